#include "runtime/sparse_weights.h"

#include <algorithm>
#include <bit>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/half.h"
#include "core/kernels_x86.h"
#include "gguf/gguf_keys.h"
#include "runtime/model_writer.h"

namespace edgelm {

namespace {

// Only act_type matters to the forward pass; matmul_rows sends sparse matrices to
// matmul_sparse_rows before it looks at anything else.
const TypeTraits& sparse_traits() {
    static const TypeTraits t = [] {
        TypeTraits tr{};
        tr.type = DType::F32;
        tr.name = "sparse";
        tr.block_size = 8;
        tr.block_bytes = 1;
        tr.act_type = DType::F32;
        return tr;
    }();
    return t;
}

float dot_scalar(int64_t n, const uint8_t* mask, const float* values, const float* x) {
    float sum = 0;
    for (int64_t c = 0; c < n; ++c)
        if ((mask[c / 8] >> (c % 8)) & 1) sum += *values++ * x[c];
    return sum;
}

using SparseDotFn = float (*)(int64_t, const uint8_t*, const float*, const float*);

SparseDotFn best_dot() {
#if defined(__x86_64__)
    if (cpu_features().avx2_fma_f16c) return x86::sparse_f32_dot_avx2;
#endif
    return dot_scalar;
}

const uint8_t* row_mask(const WeightMatrix& w, int64_t r) {
    return w.sparse->mask + r * (w.cols / 8);
}
const float* row_values(const WeightMatrix& w, int64_t r) {
    return w.sparse->values + w.sparse->offsets[r];
}

[[noreturn]] void fail(const GgufFile& f, const std::string& name, const std::string& what) {
    throw FormatError(f.path() + ": sparse tensor '" + name + "': " + what +
                      "; the file is damaged or was not written by `edgelm prune`");
}

// Fills offsets from the mask; returns the number of non-zeros.
uint64_t row_offsets(const std::vector<uint8_t>& mask, int64_t rows, int64_t cols,
                     std::vector<uint64_t>& offsets) {
    offsets.assign(static_cast<size_t>(rows + 1), 0);
    const int64_t per_row = cols / 8;
    for (int64_t r = 0; r < rows; ++r) {
        uint64_t nz = 0;
        for (int64_t b = 0; b < per_row; ++b)
            nz += static_cast<uint64_t>(std::popcount(mask[static_cast<size_t>(r * per_row + b)]));
        offsets[static_cast<size_t>(r + 1)] = offsets[static_cast<size_t>(r)] + nz;
    }
    return offsets.back();
}

WeightMatrix finish(int64_t rows, int64_t cols, SparseMatrixData& data) {
    data.rows = {data.mask.data(), data.offsets.data(), data.values.data()};
    WeightMatrix m;
    m.traits = &sparse_traits();
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = static_cast<uint64_t>(cols / 8);
    m.data = data.mask.data();
    m.sparse = &data.rows;
    data.view = m;
    return m;
}

}  // namespace

bool is_sparse(const GgufFile& f, const std::string& name) {
    return f.find(keys::kSparsePrefix + name) != nullptr;
}

std::vector<int64_t> sparse_dims(const GgufFile& f, const std::string& name) {
    const GgufValue* v = f.get_array(keys::kSparsePrefix + name, GgufType::I32);
    if (!v || v->ints.size() != 2 || v->ints[0] <= 0 || v->ints[1] <= 0 || v->ints[0] % 8 != 0)
        fail(f, name, "its dims must be two positive integers, the first a multiple of 8");
    return v->ints;
}

WeightMatrix pack_sparse_matrix(const float* dense, int64_t rows, int64_t cols,
                                SparseMatrixData& data) {
    data.mask.assign(static_cast<size_t>(rows * cols / 8), 0);
    data.values.clear();
    for (int64_t i = 0; i < rows * cols; ++i)
        if (dense[i] != 0.0f) {
            data.mask[static_cast<size_t>(i / 8)] |= static_cast<uint8_t>(1u << (i % 8));
            data.values.push_back(dense[i]);
        }
    data.values.resize(data.values.size() + 8, 0.0f);
    row_offsets(data.mask, rows, cols, data.offsets);
    return finish(rows, cols, data);
}

WeightMatrix load_sparse_matrix(const GgufFile& f, const std::string& name, int64_t rows,
                                int64_t cols, SparseMatrixData& data) {
    const std::vector<int64_t> dims = sparse_dims(f, name);
    if (dims[0] != cols || dims[1] != rows)
        fail(f, name,
             "its dims are [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) +
                 "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
    const GgufTensor* mask = f.find_tensor(name + keys::kMaskSuffix);
    const GgufTensor* values = f.find_tensor(name + keys::kValuesSuffix);
    if (!mask || !values) fail(f, name, "its mask or values tensor is missing");
    if (mask->type != DType::I8 || mask->n_elements != rows * cols / 8)
        fail(f, name, "its mask must be i8 with " + std::to_string(rows * cols / 8) + " bytes");
    if (values->type != DType::F32 && values->type != DType::F16)
        fail(f, name,
             std::string("its values are ") + dtype_name(values->type) + ", expected f32 or f16");
    data.mask.assign(mask->data, mask->data + mask->n_elements);
    const uint64_t nnz = row_offsets(data.mask, rows, cols, data.offsets);
    // An all-zero matrix stores one value (a tensor has at least one element).
    if (static_cast<uint64_t>(values->n_elements) != std::max<uint64_t>(nnz, 1))
        fail(f, name,
             "its mask marks " + std::to_string(nnz) + " non-zeros but it stores " +
                 std::to_string(values->n_elements) + " values");
    data.values.assign(nnz + 8, 0.0f);
    type_traits(values->type).to_float(values->data, data.values.data(), static_cast<int64_t>(nnz));
    const uint64_t n = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
    if (static_cast<double>(n - nnz) >= kSparseBreakEven * static_cast<double>(n))
        return finish(rows, cols, data);
    // Below the break-even: the dense matrix in the values' type (so f16 stays f16), which
    // the loader may then repack into row groups like any other.
    std::vector<float> full(n, 0.0f);
    const float* v = data.values.data();
    for (uint64_t i = 0; i < n; ++i)
        if ((data.mask[i / 8] >> (i % 8)) & 1) full[i] = *v++;
    data.dense = encode_tensor(full.data(), static_cast<int64_t>(n), values->type);
    data.mask.clear();
    data.values.clear();
    data.offsets.clear();
    WeightMatrix m;
    m.traits = &type_traits(values->type);
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = *row_bytes(values->type, cols);
    m.data = data.dense.data();
    data.view = m;
    return m;
}

void sparse_row_to_float(const WeightMatrix& w, int64_t r, float* out) {
    const uint8_t* mask = row_mask(w, r);
    const float* v = row_values(w, r);
    for (int64_t c = 0; c < w.cols; ++c) out[c] = ((mask[c / 8] >> (c % 8)) & 1) ? *v++ : 0.0f;
}

float sparse_dot_reference(const WeightMatrix& w, int64_t r, const float* x) {
    return dot_scalar(w.cols, row_mask(w, r), row_values(w, r), x);
}

float sparse_dot(const WeightMatrix& w, int64_t r, const float* x) {
    return best_dot()(w.cols, row_mask(w, r), row_values(w, r), x);
}

void matmul_sparse_rows(const WeightMatrix& w, const ActivationRows& act, float* out,
                        int64_t out_stride, int64_t r0, int64_t r1) {
    const int n = act.n();
    auto x = [&](int t) { return static_cast<const float*>(act.row(t)); };
    if (n < 4) {
        const SparseDotFn dot = best_dot();
        for (int64_t r = r0; r < r1; ++r)
            for (int t = 0; t < n; ++t)
                out[t * out_stride + (r - r0)] =
                    dot(w.cols, row_mask(w, r), row_values(w, r), x(t));
        return;
    }
    // Prompt batches: expand each row once, then the f32 kernels over every token.
    matmul_expanded_rows(w, sparse_row_to_float, act, out, out_stride, r0, r1);
}

}  // namespace edgelm
