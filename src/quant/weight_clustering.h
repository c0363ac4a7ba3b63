// Weight sharing by k-means (Deep Compression, Han et al. 2016): each weight of a tensor
// (or of a row, with per_row) is replaced by the nearest of k = 2^bits shared values, so
// the tensor is a small codebook plus one index per weight, and the indices are Huffman
// coded for storage (core/huffman_code.h).
//
// In one dimension k-means is cheap: on the sorted values every cluster is a contiguous
// run, found by binary search, and its mean comes from prefix sums, so a Lloyd iteration
// costs O(k log n) after one sort. Centers start from k-means++ seeding.
//
// With a rate target, the assignment is entropy-constrained (ECSQ): a weight goes to the
// center minimising (w - c)^2 + lambda * code_length(c), which moves weights from rare
// clusters to common ones and shortens the Huffman stream; lambda is searched so that the
// entropy of the indices meets the target. Weights that are exactly zero in a pruned tensor
// (at least 5 % of them) keep a cluster of their own at 0, so pruning survives clustering.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgelm {

class ThreadPool;

struct ClusterParams {
    int bits = 4;          // k = 2^bits centers, 1..8
    bool per_row = false;  // a codebook per row instead of per tensor
    // Per tensor: one f16 scale per row (its RMS) times the shared codebook, so rows of
    // different magnitude (embedding rows of rare and common tokens) share it well.
    bool row_scales = true;
    // Target entropy of the indices in bits per weight (0: plain k-means). Must be below bits.
    double rate = 0;
    int max_iterations = 60;
    uint64_t seed = 1;
};

struct ClusteredTensor {
    int64_t rows = 0, cols = 0;
    int k = 0;
    // Centers, already rounded to f16 (the stored precision): k per tensor, or rows * k.
    std::vector<float> codebook;
    std::vector<uint8_t> indices;  // rows * cols, row-major
    bool per_row = false;
    std::vector<float> row_scales;  // rows entries (f16 values), or empty
    bool zero_cluster = false;      // index 0 is the pruned weights' exact zero

    float value(int64_t r, int64_t c) const {
        const uint8_t i = indices[static_cast<size_t>(r * cols + c)];
        const float v = codebook[static_cast<size_t>((per_row ? r * k : 0) + i)];
        return row_scales.empty() ? v : v * row_scales[static_cast<size_t>(r)];
    }
};

// What calibration on the matrix's inputs (quant/calibration.h) adds to clustering.
struct ClusterCalibration {
    // Mean square of each input channel (cols entries, diag H / tokens): a weight's error
    // counts in the centers' fit in proportion to its input's energy.
    const std::vector<float>* input_energy = nullptr;
    // gptq_inverse_factor of the inputs (quant/gptq.h): the same centers, but the indices
    // are chosen by the GPTQ sweep, which moves each weight's rounding error onto the
    // columns still to come (rows split over `pool`).
    const std::vector<double>* gptq_factor = nullptr;
    ThreadPool* pool = nullptr;
};

// Clusters a rows x cols matrix. Throws ArgumentError for bits outside 1..8 or a rate
// outside [0, bits).
ClusteredTensor cluster_weights(const float* values, int64_t rows, int64_t cols,
                                const ClusterParams& params,
                                const ClusterCalibration& calibration = {});

// How often each index occurs (k entries).
std::vector<uint64_t> index_counts(const ClusteredTensor& t);

// Entropy of the indices in bits per weight.
double index_entropy(const std::vector<uint64_t>& counts);

}  // namespace edgelm
