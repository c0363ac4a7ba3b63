#include "core/kernels_arm.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#include <cmath>

#include "core/half.h"
#include "core/quant_blocks.h"

// SDOT is declared by arm_neon.h (GCC 12) for "arch=armv8.2-a+dotprod"; a plain "+dotprod"
// is not enough there. Every CPU with dotprod implements Armv8.2-A, and these functions
// run only after the runtime check, so the wider target is safe.
#define EDGELM_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
// The shape templates below must be inlined into each exported kernel, so that the SDOT
// helper (which carries EDGELM_DOTPROD) can in turn be inlined into the dotprod kernels.
#define EDGELM_INLINE inline __attribute__((always_inline))

namespace edgelm::arm {

namespace {

// Every kernel here is one of three shapes of the same template: dot (one weight row, one
// activation row), dot4 (one weight row, four activation rows) and rows4 (four weight
// rows, one activation row). Output k pairs weight row min(k, NW - 1) with activation row
// min(k, NX - 1) and goes through exactly the same sequence of float operations in every
// shape (same accumulators, same block order, same horizontal sums, same scalar tail
// with explicit fma), so dot4 and rows4 are bit-identical to dot by construction.
template <int NW, int NX>
constexpr int kOutputs = NW > NX ? NW : NX;

template <typename T>
EDGELM_INLINE const T* row_at(const void* base, size_t bytes, int k) {
    return reinterpret_cast<const T*>(static_cast<const uint8_t*>(base) +
                                      static_cast<size_t>(k) * bytes);
}

// One f16 value through the hardware conversion (exact for every non-NaN half).
EDGELM_INLINE float f16(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

// ---- Float weights (f32, f16, bf16) against f32 activations -------------------------

// How to read four weights as float32x4 (load4) and one weight as float (one).
struct F32 {
    using T = float;
    static EDGELM_INLINE float32x4_t load4(const float* p) { return vld1q_f32(p); }
    static EDGELM_INLINE float one(float v) { return v; }
};
struct F16 {
    using T = uint16_t;
    static EDGELM_INLINE float32x4_t load4(const uint16_t* p) {
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
    }
    static EDGELM_INLINE float one(uint16_t v) { return f16(v); }
};
struct BF16 {
    using T = uint16_t;
    // bf16 is the high half of an f32: widen each u16 to u32 shifted left by 16.
    static EDGELM_INLINE float32x4_t load4(const uint16_t* p) {
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
    }
    static EDGELM_INLINE float one(uint16_t v) { return bf16_to_f32(v); }
};

// out[k] = sum_i w[kw][i] * x[kx][i]. Element i goes to accumulator (i / 4) % 4, lane
// i % 4, for the leading multiple of 16 (then groups of 4 into accumulator 0); the
// four accumulators are added as (a0 + a1) + (a2 + a3), reduced across lanes by
// vaddvq_f32, and the last n % 4 elements are fused in one by one.
template <class L, int NW, int NX>
EDGELM_INLINE void float_dots(int64_t n, const typename L::T* const (&w)[NW],
                              const float* const (&x)[NX], float* out) {
    constexpr int K = kOutputs<NW, NX>;
    // Accumulator j of output k is aj[k]: four arrays of K rather than one [K][4] array,
    // which GCC would keep in memory.
    float32x4_t a0[K], a1[K], a2[K], a3[K];
    for (int k = 0; k < K; ++k) a0[k] = a1[k] = a2[k] = a3[k] = vdupq_n_f32(0.0f);
    // a[k] += w * x on the four elements starting at i.
    auto step = [&](float32x4_t(&a)[K], int64_t i) {
        float32x4_t wv[NW], xv[NX];
        for (int r = 0; r < NW; ++r) wv[r] = L::load4(w[r] + i);
        for (int r = 0; r < NX; ++r) xv[r] = vld1q_f32(x[r] + i);
        for (int k = 0; k < K; ++k)
            a[k] = vfmaq_f32(a[k], wv[NW == 1 ? 0 : k], xv[NX == 1 ? 0 : k]);
    };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        step(a0, i);
        step(a1, i + 4);
        step(a2, i + 8);
        step(a3, i + 12);
    }
    for (; i + 4 <= n; i += 4) step(a0, i);
    for (int k = 0; k < K; ++k)
        out[k] = vaddvq_f32(vaddq_f32(vaddq_f32(a0[k], a1[k]), vaddq_f32(a2[k], a3[k])));
    for (; i < n; ++i)
        for (int k = 0; k < K; ++k)
            out[k] = std::fma(L::one(w[NW == 1 ? 0 : k][i]), x[NX == 1 ? 0 : k][i], out[k]);
}

template <class L>
EDGELM_INLINE float float_dot(int64_t n, const void* row, const void* act) {
    float out;
    float_dots<L, 1, 1>(n, {static_cast<const typename L::T*>(row)},
                        {static_cast<const float*>(act)}, &out);
    return out;
}

template <class L>
EDGELM_INLINE void float_dot4(int64_t n, const void* row, const void* act, size_t stride,
                              float* out) {
    float_dots<L, 1, 4>(n, {static_cast<const typename L::T*>(row)},
                        {row_at<float>(act, stride, 0), row_at<float>(act, stride, 1),
                         row_at<float>(act, stride, 2), row_at<float>(act, stride, 3)},
                        out);
}

template <class L>
EDGELM_INLINE void float_rows4(int64_t n, const void* row, size_t row_bytes, const void* act,
                               float* out) {
    using T = typename L::T;
    float_dots<L, 4, 1>(n,
                        {row_at<T>(row, row_bytes, 0), row_at<T>(row, row_bytes, 1),
                         row_at<T>(row, row_bytes, 2), row_at<T>(row, row_bytes, 3)},
                        {static_cast<const float*>(act)}, out);
}

// ---- Quantized weights (q8_0, q4_0) against q8_0 activations -------------------------

// 32 weights of a block as two int8x16 (elements 0..15, 16..31) and the block's scale.
struct Q8W {
    using Block = BlockQ8_0;
    static EDGELM_INLINE void unpack(const BlockQ8_0& b, int8x16_t q[2]) {
        q[0] = vld1q_s8(b.qs);
        q[1] = vld1q_s8(b.qs + 16);
    }
};
struct Q4W {
    using Block = BlockQ4_0;
    // Low nibbles are elements 0..15 and high nibbles 16..31, each stored as q + 8.
    static EDGELM_INLINE void unpack(const BlockQ4_0& b, int8x16_t q[2]) {
        const uint8x16_t packed = vld1q_u8(b.qs);
        const int8x16_t eight = vdupq_n_s8(8);
        q[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0x0F))), eight);
        q[1] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
    }
};

// Sum of the 32 products w[i] * x[i] as four int32 lanes; the sum is exact whatever the
// grouping, but both forms fix which products land in which lane. Baseline NEON: widen
// eight products at a time to int16 (|w * x| <= 128 * 128 fits), then add pairs into
// int32 lanes.
struct I8Neon {
    static EDGELM_INLINE int32x4_t dot32(const int8x16_t w[2], const int8x16_t x[2]) {
        int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w[0]), vget_low_s8(x[0])));
        s = vpadalq_s16(s, vmull_high_s8(w[0], x[0]));
        s = vpadalq_s16(s, vmull_s8(vget_low_s8(w[1]), vget_low_s8(x[1])));
        return vpadalq_s16(s, vmull_high_s8(w[1], x[1]));
    }
};
// SDOT: each int32 lane accumulates four adjacent products. Not always_inline (a plain
// function may not force-inline a target-specific one): the dotprod kernels inline it.
struct I8Dotprod {
    static EDGELM_DOTPROD inline int32x4_t dot32(const int8x16_t w[2], const int8x16_t x[2]) {
        return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w[0], x[0]), w[1], x[1]);
    }
};

// out[k] = sum over blocks b of dot(w[kw][b], x[kx][b]) * (d_w * d_x), accumulated per
// output in one float32x4 (blocks in order, fused multiply-add) and reduced by vaddvq_f32.
template <class W, class I8, int NW, int NX>
EDGELM_INLINE void quant_dots(int64_t n, const typename W::Block* const (&w)[NW],
                              const BlockQ8_0* const (&x)[NX], float* out) {
    constexpr int K = kOutputs<NW, NX>;
    float32x4_t acc[K];
    for (auto& a : acc) a = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        int8x16_t wq[NW][2], xq[NX][2];
        float dw[NW], dx[NX];
        for (int r = 0; r < NW; ++r) {
            W::unpack(w[r][b], wq[r]);
            dw[r] = f16(w[r][b].d);
        }
        for (int r = 0; r < NX; ++r) {
            Q8W::unpack(x[r][b], xq[r]);
            dx[r] = f16(x[r][b].d);
        }
        for (int k = 0; k < K; ++k) {
            const int kw = NW == 1 ? 0 : k, kx = NX == 1 ? 0 : k;
            const int32x4_t p = I8::dot32(wq[kw], xq[kx]);
            acc[k] = vfmaq_n_f32(acc[k], vcvtq_f32_s32(p), dw[kw] * dx[kx]);
        }
    }
    for (int k = 0; k < K; ++k) out[k] = vaddvq_f32(acc[k]);
}

template <class W, class I8>
EDGELM_INLINE float quant_dot(int64_t n, const void* row, const void* act) {
    float out;
    quant_dots<W, I8, 1, 1>(n, {static_cast<const typename W::Block*>(row)},
                            {static_cast<const BlockQ8_0*>(act)}, &out);
    return out;
}

template <class W, class I8>
EDGELM_INLINE void quant_dot4(int64_t n, const void* row, const void* act, size_t stride,
                              float* out) {
    quant_dots<W, I8, 1, 4>(n, {static_cast<const typename W::Block*>(row)},
                            {row_at<BlockQ8_0>(act, stride, 0), row_at<BlockQ8_0>(act, stride, 1),
                             row_at<BlockQ8_0>(act, stride, 2), row_at<BlockQ8_0>(act, stride, 3)},
                            out);
}

template <class W, class I8>
EDGELM_INLINE void quant_rows4(int64_t n, const void* row, size_t row_bytes, const void* act,
                               float* out) {
    using B = typename W::Block;
    quant_dots<W, I8, 4, 1>(n,
                            {row_at<B>(row, row_bytes, 0), row_at<B>(row, row_bytes, 1),
                             row_at<B>(row, row_bytes, 2), row_at<B>(row, row_bytes, 3)},
                            {static_cast<const BlockQ8_0*>(act)}, out);
}

}  // namespace

// ---- Exported kernels ----------------------------------------------------------------

float f32_dot_neon(int64_t n, const void* row, const void* act) {
    return float_dot<F32>(n, row, act);
}
float f16_dot_neon(int64_t n, const void* row, const void* act) {
    return float_dot<F16>(n, row, act);
}
float bf16_dot_neon(int64_t n, const void* row, const void* act) {
    return float_dot<BF16>(n, row, act);
}
void f32_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    float_dot4<F32>(n, row, act, stride, out);
}
void f16_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    float_dot4<F16>(n, row, act, stride, out);
}
void bf16_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    float_dot4<BF16>(n, row, act, stride, out);
}
void f32_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    float_rows4<F32>(n, row, row_bytes, act, out);
}
void f16_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    float_rows4<F16>(n, row, row_bytes, act, out);
}
void bf16_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    float_rows4<BF16>(n, row, row_bytes, act, out);
}

float q8_0_dot_neon(int64_t n, const void* row, const void* act) {
    return quant_dot<Q8W, I8Neon>(n, row, act);
}
float q4_0_dot_neon(int64_t n, const void* row, const void* act) {
    return quant_dot<Q4W, I8Neon>(n, row, act);
}
void q8_0_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    quant_dot4<Q8W, I8Neon>(n, row, act, stride, out);
}
void q4_0_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    quant_dot4<Q4W, I8Neon>(n, row, act, stride, out);
}
void q8_0_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    quant_rows4<Q8W, I8Neon>(n, row, row_bytes, act, out);
}
void q4_0_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    quant_rows4<Q4W, I8Neon>(n, row, row_bytes, act, out);
}

EDGELM_DOTPROD float q8_0_dot_dotprod(int64_t n, const void* row, const void* act) {
    return quant_dot<Q8W, I8Dotprod>(n, row, act);
}
EDGELM_DOTPROD float q4_0_dot_dotprod(int64_t n, const void* row, const void* act) {
    return quant_dot<Q4W, I8Dotprod>(n, row, act);
}
EDGELM_DOTPROD void q8_0_dot4_dotprod(int64_t n, const void* row, const void* act, size_t stride,
                                      float* out) {
    quant_dot4<Q8W, I8Dotprod>(n, row, act, stride, out);
}
EDGELM_DOTPROD void q4_0_dot4_dotprod(int64_t n, const void* row, const void* act, size_t stride,
                                      float* out) {
    quant_dot4<Q4W, I8Dotprod>(n, row, act, stride, out);
}
EDGELM_DOTPROD void q8_0_rows4_dotprod(int64_t n, const void* row, size_t row_bytes,
                                       const void* act, float* out) {
    quant_rows4<Q8W, I8Dotprod>(n, row, row_bytes, act, out);
}
EDGELM_DOTPROD void q4_0_rows4_dotprod(int64_t n, const void* row, size_t row_bytes,
                                       const void* act, float* out) {
    quant_rows4<Q4W, I8Dotprod>(n, row, row_bytes, act, out);
}

void axpy_neon(float* out, float a, const float* v, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(out + i, vfmaq_n_f32(vld1q_f32(out + i), vld1q_f32(v + i), a));
        vst1q_f32(out + i + 4, vfmaq_n_f32(vld1q_f32(out + i + 4), vld1q_f32(v + i + 4), a));
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vfmaq_n_f32(vld1q_f32(out + i), vld1q_f32(v + i), a));
    for (; i < n; ++i) out[i] = std::fma(a, v[i], out[i]);
}

void q8_0_from_float_neon(const float* src, void* dst, int64_t n) {
    BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        const float* x = src + i * kQK8_0;
        float32x4_t v[8];
        float32x4_t amax = vdupq_n_f32(0.0f);
        for (int k = 0; k < 8; ++k) {
            v[k] = vld1q_f32(x + 4 * k);
            amax = vmaxnmq_f32(amax, vabsq_f32(v[k]));
        }
        // The maximum is exact in any order (maxnm skips a NaN like std::max in the
        // reference); d and 1/d as in the reference.
        const float d = vmaxnmvq_f32(amax) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        // FCVTAS rounds to nearest with ties away from zero, exactly like roundf. |x * id|
        // is at most 127 up to rounding, so the saturating narrows never saturate.
        int16x8_t h[4];
        for (int k = 0; k < 4; ++k)
            h[k] = vcombine_s16(vqmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(v[2 * k], id))),
                                vqmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(v[2 * k + 1], id))));
        vst1q_s8(b[i].qs, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
        vst1q_s8(b[i].qs + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
    }
}

void f16_to_float_neon(const void* src, float* dst, int64_t n) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(s + i));
        vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
    }
    for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
}

}  // namespace edgelm::arm

#endif  // __aarch64__
