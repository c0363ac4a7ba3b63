// The operations of the decoder over a batch of tokens. Shapes in comments:
// (n, d) is n rows of d floats, row-major. Matrix products go through the type traits,
// so every weight type runs through the same code.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/weights.h"

namespace edgelm {

// out = x / sqrt(mean(x^2) + eps) * w            x, w, out: (n); out may alias x
void rmsnorm(float* out, const float* x, const float* w, int n, float eps);

// In-place softmax over x: (n)
void softmax(float* x, int n);

// gate = silu(gate) * up                         gate, up: (n)
void swiglu(float* gate, const float* up, int n);

// out += a * v                                   out, v: (n)
void axpy(float* out, float a, const float* v, int n);

// One head of causal attention for one query: scores[u] = scale * (q . k_u), softmax over
// u < n_pos, out = sum_u scores[u] * v_u. k_u and v_u are rows of hd floats, kv_stride
// floats apart; scores: (n_pos) scratch; q, out: (hd).
void attend(const float* q, const float* k, const float* v, int64_t kv_stride, int n_pos, int hd,
            float scale, float* scores, float* out);

// cos/sin of every (position, pair) angle pos * freq_scale * base^(-2i / rope_dim) /
// factor[i], computed once per session instead of per token.
class RopeTable {
  public:
    RopeTable(int n_ctx, int rope_dim, float base, float freq_scale, const float* freq_factors);
    // Rotates adjacent pairs (x[2i], x[2i+1]) of each head's first rope_dim dimensions at
    // position pos (llama.cpp's "normal" rope).    x: (n_heads * head_dim)
    void apply(float* x, int n_heads, int head_dim, int pos) const;

  private:
    int half_;
    std::vector<float> cos_, sin_;  // (n_ctx, rope_dim / 2)
};

// A batch of activation rows converted to the format a weight type's dot expects (f32
// rows are used in place; Q8_0 rows are quantized into an owned buffer that keeps its
// capacity, so steady-state decoding does not allocate).
class ActivationRows {
  public:
    // x: (n, cols) with row stride x_stride floats. prepare() sizes the buffer, then
    // convert(t0, t1) fills rows [t0, t1) (callers may split rows across threads);
    // set() does both.
    void prepare(const float* x, int n, int64_t cols, int64_t x_stride, DType act_type);
    void convert(int t0, int t1);
    void set(const float* x, int n, int64_t cols, int64_t x_stride, DType act_type) {
        prepare(x, n, cols, x_stride, act_type);
        convert(0, n);
    }
    const void* row(int t) const {
        return act_type_ == DType::F32
                   ? static_cast<const void*>(x_ + t * x_stride_)
                   : static_cast<const void*>(bytes_.data() + static_cast<size_t>(t) * row_bytes_);
    }
    DType type() const { return act_type_; }
    size_t row_stride_bytes() const {
        return act_type_ == DType::F32 ? static_cast<size_t>(x_stride_) * sizeof(float)
                                       : row_bytes_;
    }
    int n() const { return n_; }

  private:
    const float* x_ = nullptr;
    int64_t x_stride_ = 0;
    int n_ = 0;
    int64_t cols_ = 0;
    DType act_type_ = DType::F32;
    size_t row_bytes_ = 0;
    std::vector<uint8_t> bytes_;
};

// out[t * out_stride + (r - r0)] = W[r] . act[t] for rows r in [r0, r1) and every token
// t: `out` points at the output of (token 0, row r0). Each weight row is read once for
// all tokens of the batch.
void matmul_rows(const WeightMatrix& w, const ActivationRows& act, float* out, int64_t out_stride,
                 int64_t r0, int64_t r1);

// matmul_rows for matrices whose rows are decoded to floats one at a time (clustered and
// sparse weights in prompt batches): each row is expanded once by row_to_float, then the
// f32 kernels run it over every activation row (f32 activations).
using RowToFloatFn = void (*)(const WeightMatrix& w, int64_t r, float* out);
void matmul_expanded_rows(const WeightMatrix& w, RowToFloatFn row_to_float,
                          const ActivationRows& act, float* out, int64_t out_stride, int64_t r0,
                          int64_t r1);

// out = row r of W as floats.                     out: (cols)
void matrix_row(float* out, const WeightMatrix& w, int64_t r);

}  // namespace edgelm
