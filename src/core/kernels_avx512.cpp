#include "core/kernels_avx512.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source of
// their masked builtins, which -Wmaybe-uninitialized reports once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <cstring>

#include "core/quant_blocks.h"
#include "core/x86_simd.h"

#define EDGELM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace edgelm::x86 {

namespace {

// The two rows' 8-lane accumulators of a zmm (rows 2p, 2p + 1) reduced as hsum4 does.
EDGELM_AVX512 inline void reduce_pairs(__m512 a01, __m512 a23, float* out) {
    hsum4(_mm512_castps512_ps256(a01),
          _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a01), 1)),
          _mm512_castps512_ps256(a23),
          _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a23), 1)), out);
}

// 8 floats in both halves of a zmm.
EDGELM_AVX512 inline __m512 both_halves(__m256 v) {
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(v)));
}
EDGELM_AVX512 inline __m512i both_halves(const int8_t* p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Float rows in 8-element units: unit i holds rows 0..3's elements i..i+7 side by side,
// so rows (0, 1) and (2, 3) are one zmm each.
EDGELM_AVX512 inline __m512 load_pair(const float* p) {
    return _mm512_loadu_ps(p);
}
EDGELM_AVX512 inline __m512 load_pair(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

template <typename W, int T>
EDGELM_AVX512 void float_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                                  float* out, size_t out_stride) {
    const W* w = static_cast<const W*>(group);
    const float* x[T];
    for (int j = 0; j < T; ++j) x[j] = row_at<float>(act, stride, j);
    __m512 a01[T], a23[T];
    for (int j = 0; j < T; ++j) a01[j] = a23[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m512 w01 = load_pair(w + 4 * i), w23 = load_pair(w + 4 * i + 16);
        for (int j = 0; j < T; ++j) {
            const __m512 xv = both_halves(_mm256_loadu_ps(x[j] + i));
            a01[j] = _mm512_fmadd_ps(w01, xv, a01[j]);
            a23[j] = _mm512_fmadd_ps(w23, xv, a23[j]);
        }
    }
    for (int j = 0; j < T; ++j)
        reduce_pairs(a01[j], a23[j], out + static_cast<size_t>(j) * out_stride);
}

// The unit's four f16 weight scales as rows (0, 1) and (2, 3), each over its 8 lanes;
// times an activation block's dx they are the products block_fma broadcasts (the same
// two floats multiplied, so the same result as the AVX2 kernels' unit_scales).
EDGELM_AVX512 inline void pair_scales(const uint8_t* unit, __m512* s01, __m512* s23) {
    const __m512 s = _mm512_castps128_ps512(
        _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(unit))));
    *s01 =
        _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), s);
    *s23 =
        _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2), s);
}

// A prepared activation row (see kernels_avx512.h): per block 128 bytes (the block's
// quants in both halves, then -offset·Σx per int32 lane in both halves), then the blocks'
// dx as floats.
constexpr size_t kPreparedBlock = 128;

template <int Offset>
EDGELM_AVX512 void prepare_row(int64_t n, const void* act, void* out) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    uint8_t* p = static_cast<uint8_t*>(out);
    const int64_t blocks = n / 32;
    float* dx = reinterpret_cast<float*>(p + static_cast<size_t>(blocks) * kPreparedBlock);
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(Offset));
    for (int64_t i = 0; i < blocks; ++i, p += kPreparedBlock) {
        const __m512i xv = both_halves(x[i].qs);
        _mm512_store_si512(p, xv);
        _mm512_store_si512(
            p + 64, _mm512_sub_epi32(_mm512_setzero_si512(),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, xv)));
        dx[i] = f16(x[i].d);
    }
}

// Quantized groups by T prepared activation rows. `weights` gives the unit's rows (0, 1)
// and (2, 3) as unsigned bytes in element order, whose offset per weight (Q4_0: its zero
// point 8; Q8_0: the 128 added to make them unsigned) the prepared -offset·Σx removes:
// each row's int32 lane is exactly the AVX2 kernels' integer.
template <int T, int64_t Unit, typename Weights>
EDGELM_AVX512 void quant_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                                  float* out, size_t out_stride, Weights weights) {
    const uint8_t* u = static_cast<const uint8_t*>(group);
    const int64_t blocks = n / 32;
    const uint8_t* x[T];
    const float* dx[T];
    for (int j = 0; j < T; ++j) {
        x[j] = static_cast<const uint8_t*>(act) + static_cast<size_t>(j) * stride;
        dx[j] = reinterpret_cast<const float*>(x[j] + static_cast<size_t>(blocks) * kPreparedBlock);
    }
    __m512 a01[T], a23[T];
    for (int j = 0; j < T; ++j) a01[j] = a23[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < blocks; ++i, u += Unit) {
        __m512i w01, w23;
        weights(u + 8, &w01, &w23);
        __m512 d01, d23;
        pair_scales(u, &d01, &d23);
        for (int j = 0; j < T; ++j) {
            const uint8_t* b = x[j] + static_cast<size_t>(i) * kPreparedBlock;
            const __m512i xv = _mm512_load_si512(b);
            const __m512i neg = _mm512_load_si512(b + 64);
            const __m512 d = _mm512_set1_ps(dx[j][i]);
            a01[j] = _mm512_fmadd_ps(_mm512_mul_ps(d01, d),
                                     _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg, w01, xv)), a01[j]);
            a23[j] = _mm512_fmadd_ps(_mm512_mul_ps(d23, d),
                                     _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg, w23, xv)), a23[j]);
        }
    }
    for (int j = 0; j < T; ++j)
        reduce_pairs(a01[j], a23[j], out + static_cast<size_t>(j) * out_stride);
}

// Q4_0: 64 bytes of quants, 16 per row; each row's low nibbles are elements 0..15, high
// nibbles 16..31. Rows (0, 1) -> [lo0 hi0 lo1 hi1], rows (2, 3) -> [lo2 hi2 lo3 hi3].
struct Q4Weights {
    EDGELM_AVX512 void operator()(const uint8_t* p, __m512i* w01, __m512i* w23) const {
        const __m512i v = _mm512_loadu_si512(p);
        const __m512i m = _mm512_set1_epi8(0x0F);
        const __m512i lo = _mm512_and_si512(v, m),
                      hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
        *w01 = _mm512_permutex2var_epi64(lo, _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), hi);
        *w23 = _mm512_permutex2var_epi64(lo, _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4), hi);
    }
};
// Q8_0: 128 bytes of quants, 32 per row, made unsigned by adding 128 (flipping the top bit).
struct Q8Weights {
    EDGELM_AVX512 void operator()(const uint8_t* p, __m512i* w01, __m512i* w23) const {
        const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
        *w01 = _mm512_xor_si512(_mm512_loadu_si512(p), flip);
        *w23 = _mm512_xor_si512(_mm512_loadu_si512(p + 64), flip);
    }
};

template <int T>
EDGELM_AVX512 void q4_0_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                                 float* out, size_t out_stride) {
    quant_group4xT<T, kQ4Unit>(n, group, act, stride, out, out_stride, Q4Weights{});
}
template <int T>
EDGELM_AVX512 void q8_0_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                                 float* out, size_t out_stride) {
    quant_group4xT<T, kQ8Unit>(n, group, act, stride, out, out_stride, Q8Weights{});
}

}  // namespace

EDGELM_AVX512 float q6_k_dot_avx512(int64_t n, const void* row, const void* act) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03),
                  c32 = _mm512_set1_epi8(32);
    // qh's two bits for chunk j sit at bit 2j: chunks (0, 1) shift by 0 and 2, (2, 3) by 4
    // and 6, the first 16 words of a register holding the first chunk.
    const __m512i shift01 =
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0x00020002, 0x00020002, 0x00020002, 0x00020002,
                          0x00020002, 0x00020002, 0x00020002, 0x00020002);
    const __m512i shift23 = _mm512_add_epi16(shift01, _mm512_set1_epi16(4));
    // Each scale byte repeated over the 4 int32 lanes (16 weights) it covers.
    const __m128i spread = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16(b[i].d);
        for (int half = 0; half < 2; ++half) {
            const __m512i l = _mm512_loadu_si512(b[i].ql + half * 64);
            const __m512i h = _mm512_broadcast_i64x4(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh + half * 32)));
            for (int p = 0; p < 2; ++p) {  // chunks 2p and 2p + 1 of the half
                const __m512i lo = _mm512_and_si512(p ? _mm512_srli_epi16(l, 4) : l, m4);
                const __m512i hi =
                    _mm512_and_si512(_mm512_srlv_epi16(h, p ? shift23 : shift01), m2);
                const __m512i q = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));  // 0..63
                const BlockQ8_0& x0 = x[i * 8 + half * 4 + 2 * p];
                const BlockQ8_0& x1 = x[i * 8 + half * 4 + 2 * p + 1];
                const __m512i xq = _mm512_inserti64x4(
                    _mm512_castsi256_si512(
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0.qs))),
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1.qs)), 1);
                // Σ (q - 32) x per 4 weights, then times its group's scale.
                const __m512i neg = _mm512_sub_epi32(
                    _mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), c32, xq));
                int32_t sc4;
                std::memcpy(&sc4, b[i].scales + half * 8 + 4 * p, 4);
                const __m512i sc =
                    _mm512_cvtepi8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128(sc4), spread));
                const __m512i s = _mm512_mullo_epi32(_mm512_dpbusd_epi32(neg, q, xq), sc);
                const __m512 dd = _mm512_castpd_ps(_mm512_insertf64x4(
                    _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_set1_ps(d * f16(x0.d)))),
                    _mm256_castps_pd(_mm256_set1_ps(d * f16(x1.d))), 1));
                acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s), acc);
            }
        }
    }
    return hsum(_mm256_add_ps(_mm512_castps512_ps256(acc),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1))));
}

size_t quant_prepared_bytes_avx512(int64_t n) {
    const auto blocks = static_cast<size_t>(n / 32);
    return (blocks * (kPreparedBlock + sizeof(float)) + 63) / 64 * 64;
}
void q4_0_prepare_avx512(int64_t n, const void* act, void* out) {
    prepare_row<8>(n, act, out);
}
void q8_0_prepare_avx512(int64_t n, const void* act, void* out) {
    prepare_row<128>(n, act, out);
}

void f32_group4_avx512(int64_t n, const void* group, const void* act, float* out) {
    float_group4xT<float, 1>(n, group, act, 0, out, 0);
}
void f16_group4_avx512(int64_t n, const void* group, const void* act, float* out) {
    float_group4xT<uint16_t, 1>(n, group, act, 0, out, 0);
}
void q8_0_group4_avx512(int64_t n, const void* group, const void* act, float* out) {
    q8_0_group4xT<1>(n, group, act, 0, out, 0);
}
void q4_0_group4_avx512(int64_t n, const void* group, const void* act, float* out) {
    q4_0_group4xT<1>(n, group, act, 0, out, 0);
}
void f32_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride) {
    float_group4xT<float, 2>(n, group, act, stride, out, out_stride);
}
void f16_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride) {
    float_group4xT<uint16_t, 2>(n, group, act, stride, out, out_stride);
}
void q8_0_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride) {
    q8_0_group4xT<2>(n, group, act, stride, out, out_stride);
}
void q4_0_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride) {
    q4_0_group4xT<2>(n, group, act, stride, out, out_stride);
}
void f32_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride) {
    float_group4xT<float, 4>(n, group, act, stride, out, out_stride);
}
void f16_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride) {
    float_group4xT<uint16_t, 4>(n, group, act, stride, out, out_stride);
}
void q8_0_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride) {
    q8_0_group4xT<4>(n, group, act, stride, out, out_stride);
}
void q4_0_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride) {
    q4_0_group4xT<4>(n, group, act, stride, out, out_stride);
}

}  // namespace edgelm::x86

#endif
