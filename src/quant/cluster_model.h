// `edgelm cluster`: every weight matrix of a float model replaced by k-means codebook
// indices (quant/weight_clustering.h), Huffman coded in the file (gguf_keys.h,
// kClusteredPrefix). Norms stay f32; metadata is carried over. The edgelm runtime runs
// the result (runtime/clustered_weights.h); llama.cpp does not know the layout.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "quant/calibration.h"
#include "quant/weight_clustering.h"

namespace edgelm {

struct TensorClusterReport {
    std::string name;
    int64_t n = 0;           // weights
    int clusters_used = 0;   // centers that hold weights
    double entropy = 0;      // of the indices, bits per weight
    double code_bits = 0;    // Huffman stream, bits per weight
    double stored_bits = 0;  // stream + codebook + code lengths, bits per weight
    double rmse = 0;         // of the clustered weights against the input's
    bool zero_cluster = false;
    bool gptq = false;  // indices chosen by the GPTQ sweep
};

struct ClusterReport {
    uint64_t size_in = 0, size_out = 0;
    std::vector<TensorClusterReport> tensors;
};

struct ClusterModelOptions {
    ClusterParams params;
    int n_threads = 1;
    // From collect_calibration_stats on the input model; the matrices it covers get their
    // indices by the GPTQ sweep (weight_clustering.h). Null: nearest center.
    const CalibrationStats* calibration = nullptr;
    // Shell globs of matrices to leave as they are (e.g. `token_embd.weight`).
    std::vector<std::string> skip;
    // (glob, rate): matrices matching the glob get this rate instead of params.rate (the
    // first match wins), e.g. more bits for a tied embedding, which is also the output.
    std::vector<std::pair<std::string, double>> tensor_rates;
};

// Parses "GLOB=RATE" (`token_embd.weight=3.5`). Throws ArgumentError naming the rule.
std::pair<std::string, double> parse_tensor_rate(const std::string& rule);

// Throws ArgumentError for an input with quantized matrices (cluster the float model) or
// an output path equal to the input's; the input is only read, the output written to a
// temporary file and renamed.
ClusterReport cluster_model(const std::string& in_path, const std::string& out_path,
                            const ClusterModelOptions& options);

}  // namespace edgelm
