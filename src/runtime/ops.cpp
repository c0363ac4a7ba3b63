#include "runtime/ops.h"

#include <algorithm>
#include <cmath>

#include "core/cpu_features.h"
#include "core/kernels_arm.h"
#include "core/kernels_x86.h"

namespace edgelm {

void rmsnorm(float* out, const float* x, const float* w, int n, float eps) {
    float ss = 0;
    for (int i = 0; i < n; ++i) ss += x[i] * x[i];
    const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
    for (int i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

namespace {
void softmax_ref(float* x, int n) {
    const float mx = *std::max_element(x, x + n);
    float sum = 0;
    for (int i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu_ref(float* gate, const float* up, int n) {
    for (int i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void axpy_ref(float* out, float a, const float* v, int n) {
    for (int i = 0; i < n; ++i) out[i] += a * v[i];
}
// The vector operations' best variants for this CPU, chosen once.
struct VectorOps {
    void (*axpy)(float*, float, const float*, int) = axpy_ref;
    void (*softmax)(float*, int) = softmax_ref;
    void (*swiglu)(float*, const float*, int) = swiglu_ref;
};

VectorOps pick_vector_ops() {
    VectorOps ops;
#if defined(__x86_64__)
    if (cpu_features().avx2_fma_f16c) {
        ops.axpy = x86::axpy_avx2;
        ops.softmax = x86::softmax_avx2;
        ops.swiglu = x86::swiglu_avx2;
    }
#elif defined(__aarch64__)
    if (cpu_features().neon) ops.axpy = arm::axpy_neon;
#endif
    return ops;
}

const VectorOps g_ops = pick_vector_ops();
}  // namespace

void axpy(float* out, float a, const float* v, int n) {
    g_ops.axpy(out, a, v, n);
}
void softmax(float* x, int n) {
    g_ops.softmax(x, n);
}
void swiglu(float* gate, const float* up, int n) {
    g_ops.swiglu(gate, up, n);
}

RopeTable::RopeTable(int n_ctx, int rope_dim, float base, float freq_scale,
                     const float* freq_factors)
    : half_(rope_dim / 2),
      cos_(static_cast<size_t>(n_ctx) * static_cast<size_t>(half_)),
      sin_(cos_.size()) {
    for (int i = 0; i < half_; ++i) {
        double inv_freq = std::pow(static_cast<double>(base), -2.0 * i / rope_dim) * freq_scale;
        if (freq_factors) inv_freq /= freq_factors[i];
        for (int pos = 0; pos < n_ctx; ++pos) {
            const double theta = pos * inv_freq;
            cos_[static_cast<size_t>(pos * half_ + i)] = static_cast<float>(std::cos(theta));
            sin_[static_cast<size_t>(pos * half_ + i)] = static_cast<float>(std::sin(theta));
        }
    }
}

void RopeTable::apply(float* x, int n_heads, int head_dim, int pos) const {
    const float* c = cos_.data() + static_cast<size_t>(pos) * static_cast<size_t>(half_);
    const float* s = sin_.data() + static_cast<size_t>(pos) * static_cast<size_t>(half_);
    for (int h = 0; h < n_heads; ++h) {
        float* p = x + h * head_dim;
        for (int i = 0; i < half_; ++i) {
            const float x0 = p[2 * i], x1 = p[2 * i + 1];
            p[2 * i] = x0 * c[i] - x1 * s[i];
            p[2 * i + 1] = x0 * s[i] + x1 * c[i];
        }
    }
}

void ActivationRows::prepare(const float* x, int n, int64_t cols, int64_t x_stride,
                             DType act_type) {
    x_ = x;
    x_stride_ = x_stride;
    n_ = n;
    cols_ = cols;
    act_type_ = act_type;
    if (act_type == DType::F32) return;
    const TypeTraits& tr = type_traits(act_type);
    row_bytes_ = static_cast<size_t>(cols / tr.block_size) * tr.block_bytes;
    if (bytes_.size() < row_bytes_ * static_cast<size_t>(n))
        bytes_.resize(row_bytes_ * static_cast<size_t>(n));
}

void ActivationRows::convert(int t0, int t1) {
    if (act_type_ == DType::F32) return;
    const FromFloatFn from_float = type_traits(act_type_).from_float;
    for (int t = t0; t < t1; ++t)
        from_float(x_ + t * x_stride_, bytes_.data() + static_cast<size_t>(t) * row_bytes_, cols_);
}

void matmul_rows(const WeightMatrix& w, const ActivationRows& act, float* out, int64_t out_stride,
                 int64_t r0, int64_t r1) {
    const DotFn dot = w.traits->dot;
    const Dot4Fn dot4 = w.traits->dot4;
    const int n = act.n();
    const size_t stride = act.row_stride_bytes();
    int64_t r = r0;
    if (n < 4 && w.traits->rows4) {
        // Decoding: four weight rows per pass over the activation row.
        float four[4];
        for (; r + 4 <= r1; r += 4) {
            for (int t = 0; t < n; ++t) {
                w.traits->rows4(w.cols, w.row(r), w.row_bytes, act.row(t), four);
                for (int k = 0; k < 4; ++k) out[t * out_stride + (r - r0) + k] = four[k];
            }
        }
    }
    if (n >= 4 && w.traits->tile2x4) {
        // Prompt batches of float weights: two rows by four tokens at a time.
        const int n4 = n / 4 * 4;
        for (; r + 2 <= r1; r += 2)
            for (int t = 0; t < n4; t += 4)
                w.traits->tile2x4(w.cols, w.row(r), w.row_bytes, act.row(t), stride,
                                  out + t * out_stride + (r - r0), static_cast<size_t>(out_stride));
        for (int64_t rr = r0; rr < r; ++rr)
            for (int t = n4; t < n; ++t)
                out[t * out_stride + (rr - r0)] = dot(w.cols, w.row(rr), act.row(t));
    }
    for (; r < r1; ++r) {
        const uint8_t* row = w.row(r);
        float* o = out + (r - r0);
        int t = 0;
        if (dot4) {
            float four[4];
            for (; t + 4 <= n; t += 4) {
                dot4(w.cols, row, act.row(t), stride, four);
                for (int k = 0; k < 4; ++k) o[(t + k) * out_stride] = four[k];
            }
        }
        for (; t < n; ++t) o[t * out_stride] = dot(w.cols, row, act.row(t));
    }
}

void matrix_row(float* out, const WeightMatrix& w, int64_t r) {
    w.traits->to_float(w.row(r), out, w.cols);
}

}  // namespace edgelm
