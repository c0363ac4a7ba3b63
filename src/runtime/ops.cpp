#include "runtime/ops.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"

namespace edgelm {

void rmsnorm(float* out, const float* x, const float* w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float scale = 1.0f / std::sqrt(static_cast<float>(ss / n) + eps);
    for (int i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void rope(float* x, int n_heads, int head_dim, int rope_dim, int pos, float base, float freq_scale,
          const float* freq_factors) {
    for (int i = 0; i < rope_dim / 2; ++i) {
        float theta = static_cast<float>(pos) * freq_scale *
                      std::pow(base, -2.0f * static_cast<float>(i) / static_cast<float>(rope_dim));
        if (freq_factors) theta /= freq_factors[i];
        const float c = std::cos(theta), s = std::sin(theta);
        for (int h = 0; h < n_heads; ++h) {
            float* p = x + h * head_dim + 2 * i;
            const float x0 = p[0], x1 = p[1];
            p[0] = x0 * c - x1 * s;
            p[1] = x0 * s + x1 * c;
        }
    }
}

void softmax(float* x, int n) {
    const float mx = *std::max_element(x, x + n);
    float sum = 0;
    for (int i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(float* gate, const float* up, int n) {
    for (int i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void QuantizedActivations::set(const float* x, int64_t n, DType act_type) {
    x_ = x;
    act_type_ = act_type;
    if (act_type == DType::F32) return;
    const TypeTraits& tr = type_traits(act_type);
    bytes_.resize(static_cast<size_t>(n / tr.block_size * tr.block_bytes));
    tr.from_float(x, bytes_.data(), n);
}

void matvec(float* out, const WeightMatrix& w, const float* x, QuantizedActivations& scratch,
            ThreadPool& pool) {
    scratch.set(x, w.cols, w.traits->act_type);
    const void* act = scratch.data();
    pool.parallel_for(
        w.rows,
        [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r) out[r] = w.traits->dot(w.cols, w.row(r), act);
        },
        16);
}

void matrix_row(float* out, const WeightMatrix& w, int64_t r) {
    w.traits->to_float(w.row(r), out, w.cols);
}

}  // namespace edgelm
