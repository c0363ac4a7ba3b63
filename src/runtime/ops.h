// The per-token operations of the decoder. Shapes in comments: (n) is a vector of n
// floats. Matrix-vector products go through the type traits, so every weight type runs
// through the same code.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/weights.h"

namespace edgelm {

class ThreadPool;

// out = x / sqrt(mean(x^2) + eps) * w            x, w, out: (n); out may alias x
void rmsnorm(float* out, const float* x, const float* w, int n, float eps);

// Rotates adjacent pairs (x[2i], x[2i+1]) of each head's first rope_dim dimensions by
// angle pos * freq_scale * base^(-2i / rope_dim) / factor[i] (llama.cpp's "normal" rope).
// x: (n_heads * head_dim)
void rope(float* x, int n_heads, int head_dim, int rope_dim, int pos, float base, float freq_scale,
          const float* freq_factors);

// In-place softmax over x: (n)
void softmax(float* x, int n);

// gate = silu(gate) * up                         gate, up: (n)
void swiglu(float* gate, const float* up, int n);

// Activations converted to a weight type's activation format (f32 or Q8_0 blocks);
// the buffer is kept between calls so that steady-state decoding does not allocate.
class QuantizedActivations {
  public:
    void set(const float* x, int64_t n, DType act_type);
    const void* data() const {
        return act_type_ == DType::F32 ? static_cast<const void*>(x_) : bytes_.data();
    }
    DType type() const { return act_type_; }

  private:
    const float* x_ = nullptr;
    DType act_type_ = DType::F32;
    std::vector<uint8_t> bytes_;
};

// out = W x, rows split across the pool.          W: (rows, cols), x: (cols), out: (rows)
void matvec(float* out, const WeightMatrix& w, const float* x, QuantizedActivations& scratch,
            ThreadPool& pool);

// out = row r of W as floats.                     out: (cols)
void matrix_row(float* out, const WeightMatrix& w, int64_t r);

}  // namespace edgelm
