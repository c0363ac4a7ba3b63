#include "runtime/clustered_weights.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/half.h"
#include "core/huffman_code.h"
#include "core/kernels_x86.h"
#include "gguf/gguf_keys.h"

namespace edgelm {

namespace {

// Only act_type matters to the forward pass; matmul_rows sends clustered matrices to
// matmul_clustered_rows before it looks at anything else.
const TypeTraits& clustered_traits() {
    static const TypeTraits t = [] {
        TypeTraits tr{};
        tr.type = DType::I8;
        tr.name = "clustered";
        tr.block_size = 1;
        tr.block_bytes = 1;
        tr.act_type = DType::F32;
        return tr;
    }();
    return t;
}

float dot4_scalar(int64_t n, const uint8_t* idx, const float* cb, const float* x) {
    float sum = 0;
    for (int64_t b = 0; b < n; b += 32, idx += 16, x += 32)
        for (int j = 0; j < 16; ++j) sum += cb[idx[j] & 15] * x[j] + cb[idx[j] >> 4] * x[j + 16];
    return sum;
}

float dot8_scalar(int64_t n, const uint8_t* idx, const float* cb, const float* x) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += cb[idx[i]] * x[i];
    return sum;
}

using ClusteredDotFn = float (*)(int64_t, const uint8_t*, const float*, const float*);

ClusteredDotFn best_dot(const WeightMatrix& w) {
#if defined(__x86_64__)
    if (cpu_features().avx2_fma_f16c)
        return w.index_bits == 4       ? x86::clustered4_dot_avx2
               : w.codebook_size <= 32 ? x86::clustered32_dot_avx2
                                       : x86::clustered8_dot_avx2;
#endif
    return w.index_bits == 4 ? dot4_scalar : dot8_scalar;
}

const float* codebook_of(const WeightMatrix& w, int64_t r) {
    return w.codebook + r * w.codebook_stride;
}

float row_scale(const WeightMatrix& w, int64_t r) {
    return w.row_scales ? w.row_scales[r] : 1.0f;
}

[[noreturn]] void fail(const GgufFile& f, const std::string& name, const std::string& what) {
    throw FormatError(f.path() + ": clustered tensor '" + name + "': " + what +
                      "; the file is damaged or was not written by `edgelm cluster`");
}

const GgufTensor& part(const GgufFile& f, const std::string& name, const char* suffix, DType type) {
    const GgufTensor* t = f.find_tensor(name + suffix);
    if (!t) fail(f, name, std::string("tensor '") + name + suffix + "' is missing");
    if (t->type != type)
        fail(f, name,
             std::string("tensor '") + name + suffix + "' is " + dtype_name(t->type) +
                 ", expected " + dtype_name(type));
    return *t;
}

}  // namespace

bool is_clustered(const GgufFile& f, const std::string& name) {
    return f.find(keys::kClusteredPrefix + name) != nullptr;
}

std::vector<int64_t> clustered_dims(const GgufFile& f, const std::string& name) {
    const GgufValue* v = f.get_array(keys::kClusteredPrefix + name, GgufType::I32);
    if (!v || v->ints.size() != 2 || v->ints[0] <= 0 || v->ints[1] <= 0)
        fail(f, name, "its dims must be two positive integers");
    return v->ints;
}

WeightMatrix pack_clustered_matrix(const std::vector<uint8_t>& indices,
                                   const std::vector<float>& codebook, int k, bool per_row,
                                   const std::vector<float>& row_scales, int64_t rows, int64_t cols,
                                   ClusteredMatrixData& data) {
    const bool nibbles = k <= 16 && cols % 32 == 0;
    const int64_t stride = nibbles ? 16 : k <= 32 ? 32 : k;
    const int64_t n_books = per_row ? rows : 1;
    data.codebook.assign(static_cast<size_t>(n_books * stride), 0.0f);
    for (int64_t b = 0; b < n_books; ++b)
        std::copy_n(codebook.begin() + b * k, k, data.codebook.begin() + b * stride);
    const uint64_t n = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
    if (nibbles) {
        data.indices.assign(n / 2, 0);
        for (uint64_t blk = 0; blk < n / 32; ++blk)
            for (int j = 0; j < 16; ++j)
                data.indices[blk * 16 + j] =
                    static_cast<uint8_t>(indices[blk * 32 + j] | (indices[blk * 32 + j + 16] << 4));
    } else {
        data.indices.assign(indices.begin(), indices.begin() + static_cast<int64_t>(n));
    }
    WeightMatrix m;
    m.traits = &clustered_traits();
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = static_cast<uint64_t>(nibbles ? cols / 2 : cols);
    m.data = data.indices.data();
    m.codebook = data.codebook.data();
    m.codebook_stride = per_row ? stride : 0;
    m.index_bits = nibbles ? 4 : 8;
    m.codebook_size = static_cast<int>(stride);
    data.row_scales = row_scales;
    if (!data.row_scales.empty()) m.row_scales = data.row_scales.data();
    data.view = m;
    return m;
}

WeightMatrix load_clustered_matrix(const GgufFile& f, const std::string& name, int64_t rows,
                                   int64_t cols, ClusteredMatrixData& data) {
    const std::vector<int64_t> dims = clustered_dims(f, name);
    if (dims[0] != cols || dims[1] != rows)
        fail(f, name,
             "its dims are [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) +
                 "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
    const GgufTensor& book = part(f, name, keys::kCodebookSuffix, DType::F16);
    const GgufTensor& lens = part(f, name, keys::kCodeLengthsSuffix, DType::I8);
    const GgufTensor& codes = part(f, name, keys::kCodesSuffix, DType::I8);
    const int64_t k = lens.n_elements;
    if (k < 2 || k > 256) fail(f, name, "it has " + std::to_string(k) + " code lengths (2..256)");
    const bool per_row = book.dims.size() == 2;
    if (book.dims[0] != k || (per_row && book.dims[1] != rows) || book.dims.size() > 2)
        fail(f, name,
             "its codebook must be [" + std::to_string(k) + "] or [" + std::to_string(k) + ", " +
                 std::to_string(rows) + "]");
    std::vector<float> codebook(static_cast<size_t>(book.n_elements));
    const auto* h = reinterpret_cast<const uint16_t*>(book.data);
    for (size_t i = 0; i < codebook.size(); ++i) codebook[i] = f16_to_f32(h[i]);
    const std::vector<uint8_t> lengths(lens.data, lens.data + k);
    const uint64_t n = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
    std::vector<uint8_t> indices(n);
    if (!huffman_decode(lengths, codes.data, codes.bytes, indices.data(), n))
        fail(f, name, "its code stream does not decode to " + std::to_string(n) + " indices");
    for (uint8_t i : indices)
        if (i >= k) fail(f, name, "an index is outside its codebook");
    std::vector<float> row_scales;
    if (f.find_tensor(name + keys::kRowScalesSuffix)) {
        const GgufTensor& scales = part(f, name, keys::kRowScalesSuffix, DType::F16);
        if (scales.dims.size() != 1 || scales.dims[0] != rows)
            fail(f, name, "its row scales must be [" + std::to_string(rows) + "]");
        const auto* s = reinterpret_cast<const uint16_t*>(scales.data);
        for (int64_t r = 0; r < rows; ++r) row_scales.push_back(f16_to_f32(s[r]));
    }
    return pack_clustered_matrix(indices, codebook, static_cast<int>(k), per_row, row_scales, rows,
                                 cols, data);
}

void clustered_row_to_float(const WeightMatrix& w, int64_t r, float* out) {
    const uint8_t* idx = w.row(r);
    const float* cb = codebook_of(w, r);
    if (w.index_bits == 4) {
        for (int64_t b = 0; b < w.cols; b += 32, idx += 16)
            for (int j = 0; j < 16; ++j) {
                out[b + j] = cb[idx[j] & 15];
                out[b + j + 16] = cb[idx[j] >> 4];
            }
    } else {
        for (int64_t i = 0; i < w.cols; ++i) out[i] = cb[idx[i]];
    }
    if (w.row_scales)
        for (int64_t i = 0; i < w.cols; ++i) out[i] *= w.row_scales[r];
}

float clustered_dot_reference(const WeightMatrix& w, int64_t r, const float* x) {
    return row_scale(w, r) *
           (w.index_bits == 4 ? dot4_scalar : dot8_scalar)(w.cols, w.row(r), codebook_of(w, r), x);
}

float clustered_dot(const WeightMatrix& w, int64_t r, const float* x) {
    return row_scale(w, r) * best_dot(w)(w.cols, w.row(r), codebook_of(w, r), x);
}

void matmul_clustered_rows(const WeightMatrix& w, const ActivationRows& act, float* out,
                           int64_t out_stride, int64_t r0, int64_t r1) {
    const int n = act.n();
    auto x = [&](int t) { return static_cast<const float*>(act.row(t)); };
    if (n < 4) {  // decoding: look the weights up as the dot product goes
        const ClusteredDotFn dot = best_dot(w);
        for (int64_t r = r0; r < r1; ++r)
            for (int t = 0; t < n; ++t)
                out[t * out_stride + (r - r0)] =
                    row_scale(w, r) * dot(w.cols, w.row(r), codebook_of(w, r), x(t));
        return;
    }
    // Prompt batches: decode each row once, then the f32 kernels over every token.
    matmul_expanded_rows(w, clustered_row_to_float, act, out, out_stride, r0, r1);
}

}  // namespace edgelm
