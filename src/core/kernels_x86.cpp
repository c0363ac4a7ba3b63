#include "core/kernels_x86.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cmath>

#include "core/half.h"
#include "core/quant_blocks.h"

#define EDGELM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace edgelm::x86 {

namespace {

EDGELM_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Sum over 32 int8 products w[i] * x[i] as 8 int32 lanes. maddubs multiplies unsigned
// by signed bytes, so |w| is paired with x carrying w's sign; each int16 pair sum is at
// most 2 * 128 * 127 and cannot saturate.
EDGELM_AVX2 inline __m256i dot_i8x32(__m256i w, __m256i x) {
    const __m256i aw = _mm256_sign_epi8(w, w);
    const __m256i sx = _mm256_sign_epi8(x, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1));
}

EDGELM_AVX2 inline float f16(uint16_t h) {
    return _cvtsh_ss(h);
}

EDGELM_AVX2 inline __m256 load_f16x8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

EDGELM_AVX2 inline __m256 load_bf16x8(const uint16_t* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

}  // namespace

EDGELM_AVX2 float f32_dot_avx2(int64_t n, const void* row, const void* act) {
    const float* w = static_cast<const float*>(row);
    const float* x = static_cast<const float*>(act);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; ++i) sum += w[i] * x[i];
    return sum;
}

EDGELM_AVX2 float f16_dot_avx2(int64_t n, const void* row, const void* act) {
    const uint16_t* w = static_cast<const uint16_t*>(row);
    const float* x = static_cast<const float*>(act);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; ++i) sum += f16(w[i]) * x[i];
    return sum;
}

EDGELM_AVX2 float bf16_dot_avx2(int64_t n, const void* row, const void* act) {
    const uint16_t* w = static_cast<const uint16_t*>(row);
    const float* x = static_cast<const float*>(act);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float sum = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; ++i) sum += bf16_to_f32(w[i]) * x[i];
    return sum;
}

EDGELM_AVX2 float q8_0_dot_avx2(int64_t n, const void* row, const void* act) {
    const BlockQ8_0* w = static_cast<const BlockQ8_0*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    const int64_t nb = n / kQK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256i p0 = dot_i8x32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].qs)),
                                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)));
        const __m256i p1 =
            dot_i8x32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i + 1].qs)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i + 1].qs)));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p0),
                               acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i + 1].d) * f16(x[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; ++i) {
        const __m256i p = dot_i8x32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].qs)),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)));
        acc0 =
            _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

namespace {
// 32 Q4_0 weights as signed bytes in [-8, 7], in element order (low nibbles are elements
// 0..15, high nibbles 16..31).
EDGELM_AVX2 inline __m256i unpack_q4_0(const uint8_t* qs) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}
}  // namespace

EDGELM_AVX2 float q4_0_dot_avx2(int64_t n, const void* row, const void* act) {
    const BlockQ4_0* w = static_cast<const BlockQ4_0*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    const int64_t nb = n / kQK4_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256i p0 = dot_i8x32(unpack_q4_0(w[i].qs),
                                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)));
        const __m256i p1 =
            dot_i8x32(unpack_q4_0(w[i + 1].qs),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i + 1].qs)));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p0),
                               acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i + 1].d) * f16(x[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; ++i) {
        const __m256i p = dot_i8x32(unpack_q4_0(w[i].qs),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)));
        acc0 =
            _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

EDGELM_AVX2 void q8_0_from_float_avx2(const float* src, void* dst, int64_t n) {
    BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        const float* x = src + i * kQK8_0;
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[k]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        // Round half away from zero exactly like roundf in the reference: truncate, then
        // step away from zero where the (exact) remainder is at least one half.
        const __m256 mul = _mm256_set1_ps(id);
        const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
            const __m256 s = _mm256_mul_ps(v[k], mul);
            const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 frac = _mm256_andnot_ps(sign_mask, _mm256_sub_ps(s, t));
            const __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ),
                                              _mm256_or_ps(_mm256_and_ps(s, sign_mask), one));
            q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, step));
        }
        // int32 x 32 -> int8 x 32 in element order (packs interleave 128-bit lanes).
        const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
        const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), p);
    }
}

EDGELM_AVX2 void f16_to_float_avx2(const void* src, float* dst, int64_t n) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    for (; i < n; ++i) dst[i] = f16(s[i]);
}

}  // namespace edgelm::x86

#endif  // __x86_64__
