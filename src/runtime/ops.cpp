#include "runtime/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels_arm.h"
#include "core/kernels_x86.h"
#include "runtime/clustered_weights.h"
#include "runtime/row_groups.h"
#include "runtime/sparse_weights.h"

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
using AttendFn = void (*)(const float*, const float*, const float*, int64_t, int, int, float,
                          float*, float*);

// The vector operations' best variants for this CPU, chosen once.
struct VectorOps {
    void (*axpy)(float*, float, const float*, int) = axpy_ref;
    void (*softmax)(float*, int) = softmax_ref;
    void (*swiglu)(float*, const float*, int) = swiglu_ref;
    AttendFn attend = nullptr;  // null: attend_generic; needs hd % 8 == 0
};

VectorOps pick_vector_ops() {
    VectorOps ops;
#if defined(__x86_64__)
    if (cpu_features().avx2_fma_f16c) {
        ops.axpy = x86::axpy_avx2;
        ops.softmax = x86::softmax_avx2;
        ops.swiglu = x86::swiglu_avx2;
        ops.attend = x86::attend_avx2;
    }
#elif defined(__aarch64__)
    if (cpu_features().neon) ops.axpy = arm::axpy_neon;
#endif
    return ops;
}

const VectorOps g_ops = pick_vector_ops();

// From the dot product and axpy of this CPU, position by position.
void attend_generic(const float* q, const float* k, const float* v, int64_t kv_stride, int n_pos,
                    int hd, float scale, float* scores, float* out) {
    const DotFn dot = type_traits(DType::F32).dot;
    for (int u = 0; u < n_pos; ++u) scores[u] = dot(hd, q, k + u * kv_stride) * scale;
    g_ops.softmax(scores, n_pos);
    std::fill(out, out + hd, 0.0f);
    for (int u = 0; u < n_pos; ++u) g_ops.axpy(out, scores[u], v + u * kv_stride, hd);
}
}  // namespace

void axpy(float* out, float a, const float* v, int n) {
    g_ops.axpy(out, a, v, n);
}
void attend(const float* q, const float* k, const float* v, int64_t kv_stride, int n_pos, int hd,
            float scale, float* scores, float* out) {
    if (g_ops.attend && hd % 8 == 0)
        g_ops.attend(q, k, v, kv_stride, n_pos, hd, scale, scores, out);
    else
        attend_generic(q, k, v, kv_stride, n_pos, hd, scale, scores, out);
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

namespace {
// Rows [0, m) of a plain row-major block of weights (`rows`, `row_bytes` apart) against
// every activation row: out[t * out_stride + i] for row i, token t.
void matmul_plain(const TypeTraits& tr, int64_t cols, const uint8_t* rows, size_t row_bytes,
                  int64_t m, const ActivationRows& act, float* out, int64_t out_stride) {
    const int n = act.n();
    const size_t stride = act.row_stride_bytes();
    auto row = [&](int64_t i) { return rows + static_cast<size_t>(i) * row_bytes; };
    int64_t r = 0;
    if (n < 4 && tr.rows4) {
        // Decoding: four weight rows per pass over the activation row.
        float four[4];
        for (; r + 4 <= m; r += 4) {
            for (int t = 0; t < n; ++t) {
                tr.rows4(cols, row(r), row_bytes, act.row(t), four);
                for (int k = 0; k < 4; ++k) out[t * out_stride + r + k] = four[k];
            }
        }
    }
    if (n >= 4 && tr.tile2x4) {
        // Prompt batches of float weights: two rows by four tokens at a time.
        const int n4 = n / 4 * 4;
        for (; r + 2 <= m; r += 2)
            for (int t = 0; t < n4; t += 4)
                tr.tile2x4(cols, row(r), row_bytes, act.row(t), stride, out + t * out_stride + r,
                           static_cast<size_t>(out_stride));
        for (int64_t rr = 0; rr < r; ++rr)
            for (int t = n4; t < n; ++t)
                out[t * out_stride + rr] = tr.dot(cols, row(rr), act.row(t));
    }
    for (; r < m; ++r) {
        float* o = out + r;
        int t = 0;
        if (tr.dot4) {
            float four[4];
            for (; t + 4 <= n; t += 4) {
                tr.dot4(cols, row(r), act.row(t), stride, four);
                for (int k = 0; k < 4; ++k) o[(t + k) * out_stride] = four[k];
            }
        }
        for (; t < n; ++t) o[t * out_stride] = tr.dot(cols, row(r), act.row(t));
    }
}

// A thread's buffer for rows de-interleaved from a group.
uint8_t* plain_rows_buffer(size_t bytes) {
    thread_local std::vector<uint8_t> buf;
    if (buf.size() < bytes) buf.resize(bytes);
    return buf.data();
}

// Bytes of weights a thread keeps in its cache (L2) while every token of a prompt batch
// passes over them: the batch's activation rows are read once per chunk, not per group.
// 256 KiB measured 5-15 % faster prefill than 16 KiB with the AVX-512 kernels on 110m
// shapes (whose 2048-wide rows filled 16 KiB with one group), and the same with AVX2.
constexpr uint64_t kGroupChunkBytes = 256 * 1024;

// Full groups [g0, g1) of `w` against every activation row; out points at (token 0,
// row 4 * g0).
void matmul_groups(const WeightMatrix& w, const ActivationRows& act, float* out, int64_t out_stride,
                   int64_t g0, int64_t g1) {
    const TypeTraits& tr = *w.traits;
    const int n = act.n();
    size_t stride = act.row_stride_bytes();
    const uint8_t* rows = static_cast<const uint8_t*>(act.row(0));
    if (tr.prepare_act) {
        // The kernels' activation rows in their prepared form, made once here for every
        // group this thread runs (a thread's buffer keeps its capacity).
        thread_local std::vector<uint8_t> prepared;
        stride = tr.prepared_bytes(w.cols);
        prepared.resize(stride * static_cast<size_t>(n) + 64);
        uint8_t* p =
            prepared.data() + (64 - reinterpret_cast<uintptr_t>(prepared.data()) % 64) % 64;
        for (int t = 0; t < n; ++t)
            tr.prepare_act(w.cols, act.row(t), p + stride * static_cast<size_t>(t));
        rows = p;
    }
    const auto row = [&](int t) { return rows + stride * static_cast<size_t>(t); };
    const int64_t chunk =
        std::max<int64_t>(1, static_cast<int64_t>(kGroupChunkBytes / (4 * w.row_bytes)));
    for (int64_t c0 = g0; c0 < g1; c0 += chunk) {
        const int64_t c1 = std::min(g1, c0 + chunk);
        int t = 0;
        if (tr.group4x4)
            for (; t + 4 <= n; t += 4)
                for (int64_t g = c0; g < c1; ++g)
                    tr.group4x4(w.cols, w.group(g), row(t), stride,
                                out + t * out_stride + 4 * (g - g0),
                                static_cast<size_t>(out_stride));
        for (; t + 2 <= n; t += 2)
            for (int64_t g = c0; g < c1; ++g)
                tr.group4x2(w.cols, w.group(g), row(t), stride, out + t * out_stride + 4 * (g - g0),
                            static_cast<size_t>(out_stride));
        for (; t < n; ++t) {
            for (int64_t g = c0; g < c1; ++g) {
                float four[4];
                tr.group4(w.cols, w.group(g), row(t), four);
                std::copy(four, four + 4, out + t * out_stride + 4 * (g - g0));
            }
        }
    }
}
}  // namespace

void matmul_rows(const WeightMatrix& w, const ActivationRows& act, float* out, int64_t out_stride,
                 int64_t r0, int64_t r1) {
    if (w.codebook) {
        matmul_clustered_rows(w, act, out, out_stride, r0, r1);
        return;
    }
    if (w.sparse) {
        matmul_sparse_rows(w, act, out, out_stride, r0, r1);
        return;
    }
    const TypeTraits& tr = *w.traits;
    // [r0, plain0): grouped rows, [plain0, r1): rows stored plain.
    const int64_t plain0 = std::max(r0, std::min(r1, w.grouped_rows));
    if (plain0 < r1)
        matmul_plain(tr, w.cols, w.row(plain0), w.row_bytes, r1 - plain0, act, out + (plain0 - r0),
                     out_stride);
    // Whole groups in the range, and single rows of groups it cuts.
    const int64_t g0 = (r0 + 3) / 4, g1 = std::max(g0, plain0 / 4);
    if (g0 < g1) matmul_groups(w, act, out + (4 * g0 - r0), out_stride, g0, g1);
    const auto single_rows = [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            uint8_t* plain = plain_rows_buffer(w.row_bytes);
            read_row(w, r, plain);
            matmul_plain(tr, w.cols, plain, w.row_bytes, 1, act, out + (r - r0), out_stride);
        }
    };
    if (g0 < g1) {
        single_rows(r0, 4 * g0);
        single_rows(4 * g1, plain0);
    } else {
        single_rows(r0, plain0);
    }
}

void matmul_expanded_rows(const WeightMatrix& w, RowToFloatFn row_to_float,
                          const ActivationRows& act, float* out, int64_t out_stride, int64_t r0,
                          int64_t r1) {
    const TypeTraits& f32 = type_traits(DType::F32);
    const size_t row_bytes = static_cast<size_t>(w.cols) * sizeof(float);
    float* row = reinterpret_cast<float*>(plain_rows_buffer(row_bytes));
    for (int64_t r = r0; r < r1; ++r) {
        row_to_float(w, r, row);
        matmul_plain(f32, w.cols, reinterpret_cast<const uint8_t*>(row), row_bytes, 1, act,
                     out + (r - r0), out_stride);
    }
}

void matrix_row(float* out, const WeightMatrix& w, int64_t r) {
    if (w.codebook) {
        clustered_row_to_float(w, r, out);
        return;
    }
    if (w.sparse) {
        sparse_row_to_float(w, r, out);
        return;
    }
    if (r >= w.grouped_rows) {
        w.traits->to_float(w.row(r), out, w.cols);
        return;
    }
    uint8_t* plain = plain_rows_buffer(w.row_bytes);
    read_row(w, r, plain);
    w.traits->to_float(plain, out, w.cols);
}

}  // namespace edgelm
