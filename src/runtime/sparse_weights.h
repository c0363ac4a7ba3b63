// Sparse weight matrices: what `edgelm prune --sparsity` stores for a matrix whose zeros
// make it smaller so. The file keeps a bit mask (bit c % 8 of byte (r * cols + c) / 8 set
// for a non-zero weight) and the non-zero values in row-major order (gguf_keys.h,
// kSparsePrefix). Loading runs a matrix at least kSparseBreakEven zero with the sparse kernel
// (adding each row's offset into the values); a denser one is expanded to its dense type
// and runs as any other.
//
// The kernel walks a row eight columns at a time: the mask byte picks a permutation that
// spreads the next popcount(byte) packed values onto their columns (zeros elsewhere), then
// one fused multiply-add, so the work is per eight columns whatever the sparsity, and the
// bytes read are the mask plus the non-zeros. Below the break-even the dense kernels win.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "runtime/ops.h"
#include "runtime/weights.h"

namespace edgelm {

// The sparsity from which the sparse kernel decodes faster than the dense f32 one, measured
// with `kernels_bench --benchmark_filter=matvec_sparsity` (docs/compression.md): for a
// matrix read from DRAM it overtakes between 80 and 90 % zeros; for one that stays in the
// cache the dense kernel wins at any sparsity.
constexpr double kSparseBreakEven = 0.85;

// The decoded form (owned by the Model) and its matrix view.
struct SparseMatrixData {
    std::vector<uint8_t> mask;      // rows * cols / 8
    std::vector<uint64_t> offsets;  // rows + 1: row r's values are [offsets[r], offsets[r + 1])
    std::vector<float> values;      // non-zeros, plus 8 floats of padding
    std::vector<uint8_t> dense;     // or, below the break-even, the expanded matrix
    SparseRows rows;
    WeightMatrix view;
};

bool is_sparse(const GgufFile& f, const std::string& name);
// Dims [cols, rows] of sparse `name`; throws FormatError for a malformed entry.
std::vector<int64_t> sparse_dims(const GgufFile& f, const std::string& name);

WeightMatrix load_sparse_matrix(const GgufFile& f, const std::string& name, int64_t rows,
                                int64_t cols, SparseMatrixData& data);

// Builds the in-memory form from dense row-major values (cols % 8 == 0).
WeightMatrix pack_sparse_matrix(const float* dense, int64_t rows, int64_t cols,
                                SparseMatrixData& data);

// The sparse path of matmul_rows (ops.h); act rows are f32.
void matmul_sparse_rows(const WeightMatrix& w, const ActivationRows& act, float* out,
                        int64_t out_stride, int64_t r0, int64_t r1);
void sparse_row_to_float(const WeightMatrix& w, int64_t r, float* out);

// One row's dot product: scalar reference and the best kernel this CPU has.
float sparse_dot_reference(const WeightMatrix& w, int64_t r, const float* x);
float sparse_dot(const WeightMatrix& w, int64_t r, const float* x);

}  // namespace edgelm
