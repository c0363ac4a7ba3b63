// Clustered weight matrices in the runtime: a codebook of k shared values per tensor (or
// per row) and one index per weight. The file stores the indices Huffman coded
// (gguf_keys.h, kClusteredPrefix), optionally with one f16 scale per row that multiplies
// the row's values; loading decodes them once into a packed form that the
// kernels read directly, looking each weight up in the codebook as they go:
//   k <= 16 and cols % 32 == 0: 4-bit indices, in each 32-weight block byte j holds weight
//     j (low nibble) and weight j + 16 (high nibble), as Q4_0 packs its quants; the
//     codebook is padded to 16 entries per tensor (or row).
//   otherwise: one byte per index, the codebook padded to 32 entries when k <= 32 (so the
//     kernel looks values up in registers), else k entries, per tensor (or row).
// On disk the indices take their Huffman code length; in memory 4 or 8 bits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "runtime/ops.h"
#include "runtime/weights.h"

namespace edgelm {

// The decoded indices and f32 codebook of one matrix (owned by the Model), and the
// matrix view of them.
struct ClusteredMatrixData {
    std::vector<uint8_t> indices;
    std::vector<float> codebook;
    std::vector<float> row_scales;
    WeightMatrix view;
};

// Dims [cols, rows] of clustered `name`; throws FormatError for a malformed entry.
std::vector<int64_t> clustered_dims(const GgufFile& f, const std::string& name);

// Whether `name` is stored clustered.
bool is_clustered(const GgufFile& f, const std::string& name);

// Decodes clustered `name` (rows x cols) into `data` and returns its matrix view.
// Throws FormatError naming the file and tensor for any inconsistency (shape, codebook
// size, a Huffman stream that does not decode to exactly rows * cols indices).
WeightMatrix load_clustered_matrix(const GgufFile& f, const std::string& name, int64_t rows,
                                   int64_t cols, ClusteredMatrixData& data);

// Packs indices (rows * cols, each < k) into the in-memory layout above, and pads the
// codebook (k per tensor, or rows * k) to match; row_scales: empty, or one per row.
// Returns the matrix view into `data`.
WeightMatrix pack_clustered_matrix(const std::vector<uint8_t>& indices,
                                   const std::vector<float>& codebook, int k, bool per_row,
                                   const std::vector<float>& row_scales, int64_t rows, int64_t cols,
                                   ClusteredMatrixData& data);

// The clustered path of matmul_rows (ops.h); act rows are f32.
void matmul_clustered_rows(const WeightMatrix& w, const ActivationRows& act, float* out,
                           int64_t out_stride, int64_t r0, int64_t r1);

// Row r of clustered `w` as floats.
void clustered_row_to_float(const WeightMatrix& w, int64_t r, float* out);

// One row's dot product, scalar reference and the best kernel this CPU has; for tests.
float clustered_dot_reference(const WeightMatrix& w, int64_t r, const float* x);
float clustered_dot(const WeightMatrix& w, int64_t r, const float* x);

}  // namespace edgelm
