#include "core/kernels_x86.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "core/x86_simd.h"

namespace edgelm::x86 {

namespace {

// Sum over 32 int8 products w[i] * x[i] as 8 int32 lanes. maddubs multiplies unsigned
// by signed bytes, so |w| is paired with x carrying w's sign; each int16 pair sum is at
// most 2 * 128 * 127 and cannot saturate.
EDGELM_AVX2 inline __m256i dot_i8x32(__m256i w, __m256i x) {
    const __m256i aw = _mm256_sign_epi8(w, w);
    const __m256i sx = _mm256_sign_epi8(x, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1));
}

EDGELM_AVX2 inline __m256 load_f16x8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

EDGELM_AVX2 inline __m256 load_bf16x8(const uint16_t* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

}  // namespace

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
    for (; i < n; ++i) sum = std::fma(bf16_to_f32(w[i]), x[i], sum);
    return sum;
}

namespace {

EDGELM_AVX2 inline __m256i load_i8x32(const int8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The 32 weights of a quantized block as signed bytes, in element order. Q4_0: low
// nibbles are elements 0..15, high nibbles 16..31, each minus 8.
EDGELM_AVX2 inline __m256i block_weights(const BlockQ8_0& b) {
    return load_i8x32(b.qs);
}
EDGELM_AVX2 inline __m256i block_weights(const BlockQ4_0& b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}

// acc += (dw * dx) * (w . x) for one block of weights against one Q8_0 activation block.
template <typename Block>
EDGELM_AVX2 inline __m256 block_fma(const Block& w, const BlockQ8_0& x, __m256 acc) {
    const __m256i p = dot_i8x32(block_weights(w), load_i8x32(x.qs));
    return _mm256_fmadd_ps(_mm256_set1_ps(f16(w.d) * f16(x.d)), _mm256_cvtepi32_ps(p), acc);
}

// Quantized weights (Q8_0, Q4_0) against Q8_0 activations. Every output of every shape
// accumulates its blocks in order in one register and ends with hsum's order, so the
// shapes give bit-identical results.
template <typename Block>
EDGELM_AVX2 float quant_dot(int64_t n, const void* row, const void* act) {
    const Block* w = static_cast<const Block*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; ++i) acc = block_fma(w[i], x[i], acc);
    return hsum(acc);
}

template <typename Block>
EDGELM_AVX2 void quant_dot4(int64_t n, const void* row, const void* act, size_t stride,
                            float* out) {
    const Block* w = static_cast<const Block*>(row);
    const BlockQ8_0* x[4] = {row_at<BlockQ8_0>(act, stride, 0), row_at<BlockQ8_0>(act, stride, 1),
                             row_at<BlockQ8_0>(act, stride, 2), row_at<BlockQ8_0>(act, stride, 3)};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < n / 32; ++i)
        for (int k = 0; k < 4; ++k) acc[k] = block_fma(w[i], x[k][i], acc[k]);
    hsum4(acc[0], acc[1], acc[2], acc[3], out);
}

template <typename Block>
EDGELM_AVX2 void quant_rows4(int64_t n, const void* row, size_t row_bytes, const void* act,
                             float* out) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    const Block* w[4] = {row_at<Block>(row, row_bytes, 0), row_at<Block>(row, row_bytes, 1),
                         row_at<Block>(row, row_bytes, 2), row_at<Block>(row, row_bytes, 3)};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < n / 32; ++i) {
        // Decoding streams each weight row once: fetch the next four rows early.
        for (int k = 0; k < 4; ++k)
            _mm_prefetch(reinterpret_cast<const char*>(w[k] + i) + 4 * row_bytes, _MM_HINT_T0);
        for (int k = 0; k < 4; ++k) acc[k] = block_fma(w[k][i], x[i], acc[k]);
    }
    hsum4(acc[0], acc[1], acc[2], acc[3], out);
}

// Groups of four Q8_0 / Q4_0 rows (runtime/row_groups.h): per block, the four f16 scales,
// then the four rows' quants. One sequential stream per thread, which the hardware
// prefetcher follows (four plain rows are four short streams that it does not); the
// four scales convert in one instruction. Each output accumulates exactly what
// block_fma accumulates for its row, so the results equal quant_dot's bit for bit.

// Lane k: f16 scale k of the unit times dx (the float product block_fma broadcasts).
EDGELM_AVX2 inline __m128 unit_scales(const uint8_t* unit, float dx) {
    return _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(unit))),
                      _mm_set1_ps(dx));
}
EDGELM_AVX2 inline __m256 lane(__m128 s, int k) {
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s), _mm256_set1_epi32(k));
}

// A group by T activation rows (act, act + stride, ...; out, out + out_stride, ...):
// each weight block is loaded once for the T tokens.
template <int T>
EDGELM_AVX2 void q8_0_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                               float* out, size_t out_stride) {
    const uint8_t* u = static_cast<const uint8_t*>(group);
    const BlockQ8_0* x[T];
    for (int j = 0; j < T; ++j) x[j] = row_at<BlockQ8_0>(act, stride, j);
    __m256 a[T][4];
    for (auto& row : a)
        for (auto& v : row) v = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; ++i, u += kQ8Unit) {
        __m128 s[T];
        __m256i xv[T];
        for (int j = 0; j < T; ++j) {
            s[j] = unit_scales(u, f16(x[j][i].d));
            xv[j] = load_i8x32(x[j][i].qs);
        }
        for (int k = 0; k < 4; ++k) {
            const __m256i w = load_i8x32(reinterpret_cast<const int8_t*>(u + 8 + 32 * k));
            for (int j = 0; j < T; ++j)
                a[j][k] = _mm256_fmadd_ps(lane(s[j], k), _mm256_cvtepi32_ps(dot_i8x32(w, xv[j])),
                                          a[j][k]);
        }
    }
    for (int j = 0; j < T; ++j)
        hsum4(a[j][0], a[j][1], a[j][2], a[j][3], out + static_cast<size_t>(j) * out_stride);
}

// Q4_0 without the sign trick: the nibbles n (0..15) multiply the activation bytes
// directly, and sum((n - 8) x) = sum(n x) - 8 sum(x) per int32 lane: the same integers
// block_fma computes (Q8_0 activations never hold -128), with the 8 sum(x) term shared
// by the group's four rows.
EDGELM_AVX2 inline __m256i eight_x(__m256i xv) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), xv), _mm256_set1_epi16(1));
}
// The nibbles of two rows whose 16 quant bytes lie side by side at p, each in element
// order (low nibbles are elements 0..15, high nibbles 16..31).
EDGELM_AVX2 inline void q4_nibbles2(const uint8_t* p, __m256i* a, __m256i* b) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i m = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    *a = _mm256_permute2x128_si256(lo, hi, 0x20);
    *b = _mm256_permute2x128_si256(lo, hi, 0x31);
}
EDGELM_AVX2 inline __m256 q4_fma(__m256i nib, __m256i xv, __m256i x8, __m256 scale, __m256 acc) {
    const __m256i p = _mm256_sub_epi32(
        _mm256_madd_epi16(_mm256_maddubs_epi16(nib, xv), _mm256_set1_epi16(1)), x8);
    return _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(p), acc);
}

// A group by T activation rows: the row side (nibbles, scales) is shared by T tokens.
template <int T>
EDGELM_AVX2 void q4_0_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                               float* out, size_t out_stride) {
    const uint8_t* u = static_cast<const uint8_t*>(group);
    const BlockQ8_0* x[T];
    for (int j = 0; j < T; ++j) x[j] = row_at<BlockQ8_0>(act, stride, j);
    __m256 a[T][4];
    for (auto& row : a)
        for (auto& v : row) v = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; ++i, u += kQ4Unit) {
        __m256i nib[4];
        q4_nibbles2(u + 8, &nib[0], &nib[1]);
        q4_nibbles2(u + 40, &nib[2], &nib[3]);
        for (int j = 0; j < T; ++j) {
            const __m128 s = unit_scales(u, f16(x[j][i].d));
            const __m256i xv = load_i8x32(x[j][i].qs), x8 = eight_x(xv);
            for (int k = 0; k < 4; ++k) a[j][k] = q4_fma(nib[k], xv, x8, lane(s, k), a[j][k]);
        }
    }
    for (int j = 0; j < T; ++j)
        hsum4(a[j][0], a[j][1], a[j][2], a[j][3], out + static_cast<size_t>(j) * out_stride);
}

}  // namespace

void q8_0_group4_avx2(int64_t n, const void* group, const void* act, float* out) {
    q8_0_group4xT<1>(n, group, act, 0, out, 0);
}
void q8_0_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                        size_t out_stride) {
    q8_0_group4xT<2>(n, group, act, stride, out, out_stride);
}
void q4_0_group4_avx2(int64_t n, const void* group, const void* act, float* out) {
    q4_0_group4xT<1>(n, group, act, 0, out, 0);
}
void q4_0_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                        size_t out_stride) {
    q4_0_group4xT<2>(n, group, act, stride, out, out_stride);
}
void q4_0_group4x4_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                        size_t out_stride) {
    q4_0_group4xT<4>(n, group, act, stride, out, out_stride);
}

float q8_0_dot_avx2(int64_t n, const void* row, const void* act) {
    return quant_dot<BlockQ8_0>(n, row, act);
}
float q4_0_dot_avx2(int64_t n, const void* row, const void* act) {
    return quant_dot<BlockQ4_0>(n, row, act);
}
void q8_0_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    quant_dot4<BlockQ8_0>(n, row, act, stride, out);
}
void q4_0_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    quant_dot4<BlockQ4_0>(n, row, act, stride, out);
}
void q8_0_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    quant_rows4<BlockQ8_0>(n, row, row_bytes, act, out);
}
void q4_0_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    quant_rows4<BlockQ4_0>(n, row, row_bytes, act, out);
}

namespace {
// exp(x) for 8 floats: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by a degree-6 polynomial
// (Cephes' expf coefficients), times 2^n built in the exponent bits.
EDGELM_AVX2 inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
}  // namespace

EDGELM_AVX2 void swiglu_avx2(float* gate, const float* up, int n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

EDGELM_AVX2 void softmax_avx2(float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, x[i]);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum(vsum);
    for (; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; ++i) x[i] *= 1.0f / sum;
}

// Float weights (f32 or f16) against f32 activations. Every output of every shape (one
// row, 1x4, 4x1, 2x4) uses one accumulator over 8-element steps, the same horizontal
// sum and the same fused scalar tail, so all shapes give bit-identical results.
namespace {
EDGELM_AVX2 inline __m256 load_w8(const float* p) {
    return _mm256_loadu_ps(p);
}
EDGELM_AVX2 inline __m256 load_w8(const uint16_t* p) {
    return load_f16x8(p);
}
EDGELM_AVX2 inline float w_at(const float* p, int64_t i) {
    return p[i];
}
EDGELM_AVX2 inline float w_at(const uint16_t* p, int64_t i) {
    return f16(p[i]);
}

template <typename W>
EDGELM_AVX2 float float_dot(int64_t n, const void* row, const void* act) {
    const W* w = static_cast<const W*>(row);
    const float* x = static_cast<const float*>(act);
    __m256 a = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) a = _mm256_fmadd_ps(load_w8(w + i), _mm256_loadu_ps(x + i), a);
    float sum = hsum(a);
    for (; i < n; ++i) sum = std::fma(w_at(w, i), x[i], sum);
    return sum;
}

template <typename W>
EDGELM_AVX2 void float_dot4(int64_t n, const void* row, const void* act, size_t stride,
                            float* out) {
    const W* w = static_cast<const W*>(row);
    const float* x[4] = {row_at<float>(act, stride, 0), row_at<float>(act, stride, 1),
                         row_at<float>(act, stride, 2), row_at<float>(act, stride, 3)};
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 wv = load_w8(w + i);
        for (int k = 0; k < 4; ++k) a[k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[k] + i), a[k]);
    }
    hsum4(a[0], a[1], a[2], a[3], out);
    for (; i < n; ++i)
        for (int k = 0; k < 4; ++k) out[k] = std::fma(w_at(w, i), x[k][i], out[k]);
}

template <typename W>
EDGELM_AVX2 void float_rows4(int64_t n, const void* row, size_t row_bytes, const void* act,
                             float* out) {
    const float* x = static_cast<const float*>(act);
    const W* w[4] = {row_at<W>(row, row_bytes, 0), row_at<W>(row, row_bytes, 1),
                     row_at<W>(row, row_bytes, 2), row_at<W>(row, row_bytes, 3)};
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        // Weight rows stream from memory once per token: fetch the next four early, one
        // prefetch per 64-byte line.
        if ((i * static_cast<int64_t>(sizeof(W))) % 64 == 0)
            for (int k = 0; k < 4; ++k)
                _mm_prefetch(reinterpret_cast<const char*>(w[k] + i) + 4 * row_bytes, _MM_HINT_T0);
        for (int k = 0; k < 4; ++k) a[k] = _mm256_fmadd_ps(load_w8(w[k] + i), xv, a[k]);
    }
    hsum4(a[0], a[1], a[2], a[3], out);
    for (; i < n; ++i)
        for (int k = 0; k < 4; ++k) out[k] = std::fma(w_at(w[k], i), x[i], out[k]);
}

// Four rows interleaved in 8-element units (runtime/row_groups.h) by T activation rows
// (as q8_0_group4xT); n: a multiple of 8.
template <typename W, int T>
EDGELM_AVX2 void float_group4xT(int64_t n, const void* group, const void* act, size_t stride,
                                float* out, size_t out_stride) {
    const W* w = static_cast<const W*>(group);
    const float* x[T];
    for (int j = 0; j < T; ++j) x[j] = row_at<float>(act, stride, j);
    __m256 a[T][4];
    for (auto& row : a)
        for (auto& v : row) v = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        __m256 xv[T];
        for (int j = 0; j < T; ++j) xv[j] = _mm256_loadu_ps(x[j] + i);
        for (int k = 0; k < 4; ++k) {
            const __m256 wv = load_w8(w + 4 * i + 8 * k);
            for (int j = 0; j < T; ++j) a[j][k] = _mm256_fmadd_ps(wv, xv[j], a[j][k]);
        }
    }
    for (int j = 0; j < T; ++j)
        hsum4(a[j][0], a[j][1], a[j][2], a[j][3], out + static_cast<size_t>(j) * out_stride);
}

// Two weight rows by four activation rows: 8 accumulators, each weight and activation
// load used 4 and 2 times (prompt processing is load-bound with one row at a time).
template <typename W>
EDGELM_AVX2 void float_tile2x4(int64_t n, const void* row, size_t row_bytes, const void* act,
                               size_t stride, float* out, size_t out_stride) {
    const W* w[2] = {row_at<W>(row, row_bytes, 0), row_at<W>(row, row_bytes, 1)};
    const float* x[4] = {row_at<float>(act, stride, 0), row_at<float>(act, stride, 1),
                         row_at<float>(act, stride, 2), row_at<float>(act, stride, 3)};
    __m256 a[2][4];
    for (auto& r : a)
        for (auto& v : r) v = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 w0 = load_w8(w[0] + i), w1 = load_w8(w[1] + i);
        for (int k = 0; k < 4; ++k) {
            const __m256 xv = _mm256_loadu_ps(x[k] + i);
            a[0][k] = _mm256_fmadd_ps(w0, xv, a[0][k]);
            a[1][k] = _mm256_fmadd_ps(w1, xv, a[1][k]);
        }
    }
    for (int r = 0; r < 2; ++r) {
        float o[4];
        hsum4(a[r][0], a[r][1], a[r][2], a[r][3], o);
        for (int64_t j = i; j < n; ++j)
            for (int k = 0; k < 4; ++k) o[k] = std::fma(w_at(w[r], j), x[k][j], o[k]);
        for (int k = 0; k < 4; ++k) out[k * out_stride + r] = o[k];
    }
}
}  // namespace

float f32_dot_avx2(int64_t n, const void* row, const void* act) {
    return float_dot<float>(n, row, act);
}
float f16_dot_avx2(int64_t n, const void* row, const void* act) {
    return float_dot<uint16_t>(n, row, act);
}
void f32_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    float_dot4<float>(n, row, act, stride, out);
}
void f16_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out) {
    float_dot4<uint16_t>(n, row, act, stride, out);
}
void f32_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    float_rows4<float>(n, row, row_bytes, act, out);
}
void f16_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out) {
    float_rows4<uint16_t>(n, row, row_bytes, act, out);
}
void f32_group4_avx2(int64_t n, const void* group, const void* act, float* out) {
    float_group4xT<float, 1>(n, group, act, 0, out, 0);
}
void f16_group4_avx2(int64_t n, const void* group, const void* act, float* out) {
    float_group4xT<uint16_t, 1>(n, group, act, 0, out, 0);
}
void f32_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                       size_t out_stride) {
    float_group4xT<float, 2>(n, group, act, stride, out, out_stride);
}
void f16_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                       size_t out_stride) {
    float_group4xT<uint16_t, 2>(n, group, act, stride, out, out_stride);
}
void f32_tile2x4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, size_t stride,
                      float* out, size_t out_stride) {
    float_tile2x4<float>(n, row, row_bytes, act, stride, out, out_stride);
}
void f16_tile2x4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, size_t stride,
                      float* out, size_t out_stride) {
    float_tile2x4<uint16_t>(n, row, row_bytes, act, stride, out, out_stride);
}

// Scores four positions at a time (four independent FMA chains, one hsum4), then the
// weighted sum of v rows 32 floats of the output at a time in registers, two positions
// per step in separate accumulators: the output is stored once, not once per position.
EDGELM_AVX2 void attend_avx2(const float* q, const float* k, const float* v, int64_t kv_stride,
                             int n_pos, int hd, float scale, float* scores, float* out) {
    int u = 0;
    for (; u + 4 <= n_pos; u += 4) {
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
        for (int i = 0; i < hd; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            for (int j = 0; j < 4; ++j)
                a[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + (u + j) * kv_stride + i), a[j]);
        }
        hsum4(a[0], a[1], a[2], a[3], scores + u);
    }
    for (; u < n_pos; ++u) {
        __m256 a = _mm256_setzero_ps();
        for (int i = 0; i < hd; i += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + u * kv_stride + i), a);
        scores[u] = hsum(a);
    }
    const __m256 sc = _mm256_set1_ps(scale);
    for (u = 0; u + 8 <= n_pos; u += 8)
        _mm256_storeu_ps(scores + u, _mm256_mul_ps(_mm256_loadu_ps(scores + u), sc));
    for (; u < n_pos; ++u) scores[u] *= scale;
    softmax_avx2(scores, n_pos);

    int c = 0;
    for (; c + 32 <= hd; c += 32) {
        __m256 e[4], o[4];
        for (int j = 0; j < 4; ++j) e[j] = o[j] = _mm256_setzero_ps();
        for (u = 0; u + 2 <= n_pos; u += 2) {
            const __m256 p0 = _mm256_broadcast_ss(scores + u),
                         p1 = _mm256_broadcast_ss(scores + u + 1);
            const float* v0 = v + u * kv_stride + c;
            const float* v1 = v0 + kv_stride;
            for (int j = 0; j < 4; ++j) {
                e[j] = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8 * j), e[j]);
                o[j] = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 8 * j), o[j]);
            }
        }
        if (u < n_pos) {
            const __m256 p0 = _mm256_broadcast_ss(scores + u);
            for (int j = 0; j < 4; ++j)
                e[j] = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v + u * kv_stride + c + 8 * j), e[j]);
        }
        for (int j = 0; j < 4; ++j) _mm256_storeu_ps(out + c + 8 * j, _mm256_add_ps(e[j], o[j]));
    }
    for (; c < hd; c += 8) {
        __m256 e = _mm256_setzero_ps(), o = e;
        for (u = 0; u + 2 <= n_pos; u += 2) {
            e = _mm256_fmadd_ps(_mm256_broadcast_ss(scores + u),
                                _mm256_loadu_ps(v + u * kv_stride + c), e);
            o = _mm256_fmadd_ps(_mm256_broadcast_ss(scores + u + 1),
                                _mm256_loadu_ps(v + (u + 1) * kv_stride + c), o);
        }
        if (u < n_pos)
            e = _mm256_fmadd_ps(_mm256_broadcast_ss(scores + u),
                                _mm256_loadu_ps(v + u * kv_stride + c), e);
        _mm256_storeu_ps(out + c, _mm256_add_ps(e, o));
    }
}

EDGELM_AVX2 void axpy_avx2(float* out, float a, const float* v, int n) {
    const __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
    for (; i < n; ++i) out[i] += a * v[i];
}

namespace {
EDGELM_AVX2 inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
}  // namespace

// Q4_K against Q8_0 activations: the integer sums of each 32-weight sub-block (nibbles
// times activation bytes, and the activation bytes alone) in SIMD, then the scalar
// reference's float arithmetic in its order, so the result is bit-identical to it.
EDGELM_AVX2 float q4_k_dot_avx2(int64_t n, const void* row, const void* act) {
    const BlockQ4_K* b = static_cast<const BlockQ4_K*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones8 = _mm256_set1_epi8(1),
                  ones16 = _mm256_set1_epi16(1);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16(b[i].d), dmin = f16(b[i].dmin);
        const uint8_t* sc = b[i].scales;
        for (int j = 0; j < 8; ++j) {
            const int s = j < 4 ? sc[j] & 63 : (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4);
            const int m = j < 4 ? sc[j + 4] & 63 : (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
            const BlockQ8_0& a = x[i * 8 + j];
            const __m256i packed =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * (j / 2)));
            const __m256i q = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(packed, 4) : packed, m4);
            const __m256i xv = load_i8x32(a.qs);
            const int32_t sq = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), ones16));
            const int32_t sx = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones16));
            sum += f16(a.d) * (d * static_cast<float>(s) * static_cast<float>(sq) -
                               dmin * static_cast<float>(m) * static_cast<float>(sx));
        }
    }
    return sum;
}

// Q6_K weights against Q8_0 activations (the scalar reference's arithmetic): per
// 32-weight chunk, the 6-bit values are rebuilt from their 4 + 2 bit planes, multiplied
// with the activation bytes (sign trick), and the int16 pair sums are weighted by the two
// groups' int8 scales in one madd, before the float scale d * dx.
EDGELM_AVX2 float q6_k_dot_avx2(int64_t n, const void* row, const void* act) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03),
                  off = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16(b[i].d);
        for (int half = 0; half < 2; ++half) {
            const __m256i l0 =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].ql + half * 64));
            const __m256i l1 =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].ql + half * 64 + 32));
            const __m256i h =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh + half * 32));
            const int8_t* sc = b[i].scales + half * 8;
            const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
            for (int j = 0; j < 4; ++j) {
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * j), m2);
                const __m256i q =
                    _mm256_sub_epi8(_mm256_or_si256(lo[j], _mm256_slli_epi16(hi, 4)), off);
                const BlockQ8_0& xb = x[i * 8 + half * 4 + j];
                const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
                const __m256i p16 =
                    _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q));
                // Lanes 0-7 hold the first 16 weights (group 2j), lanes 8-15 the next.
                const __m256i scales =
                    _mm256_setr_m128i(_mm_set1_epi16(sc[2 * j]), _mm_set1_epi16(sc[2 * j + 1]));
                const __m256i p32 = _mm256_madd_epi16(p16, scales);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * f16(xb.d)), _mm256_cvtepi32_ps(p32), acc);
            }
        }
    }
    return hsum(acc);
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

// Eight codebook entries for eight 4-bit indices (in int32 lanes): permutevar picks by
// the low three bits from each half of the codebook, bit 3 (moved to the sign) chooses.
EDGELM_AVX2 inline __m256 lookup16(__m256i i, __m256 lo, __m256 hi) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, i), _mm256_permutevar8x32_ps(hi, i),
                            _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
}

EDGELM_AVX2 float clustered4_dot_avx2(int64_t n, const uint8_t* idx, const float* cb,
                                      const float* x) {
    const __m256 lo = _mm256_loadu_ps(cb), hi = _mm256_loadu_ps(cb + 8);
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < n; b += 32, idx += 16, x += 32) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx));
        const __m128i first = _mm_and_si128(q, mask);                      // weights 0..15
        const __m128i second = _mm_and_si128(_mm_srli_epi16(q, 4), mask);  // weights 16..31
        acc0 = _mm256_fmadd_ps(lookup16(_mm256_cvtepu8_epi32(first), lo, hi), _mm256_loadu_ps(x),
                               acc0);
        acc1 = _mm256_fmadd_ps(lookup16(_mm256_cvtepu8_epi32(_mm_srli_si128(first, 8)), lo, hi),
                               _mm256_loadu_ps(x + 8), acc1);
        acc0 = _mm256_fmadd_ps(lookup16(_mm256_cvtepu8_epi32(second), lo, hi),
                               _mm256_loadu_ps(x + 16), acc0);
        acc1 = _mm256_fmadd_ps(lookup16(_mm256_cvtepu8_epi32(_mm_srli_si128(second, 8)), lo, hi),
                               _mm256_loadu_ps(x + 24), acc1);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// For each mask byte: where each lane's value sits among the packed non-zeros (the number
// of set bits below it), and which lanes hold one.
struct SparseExpandTables {
    alignas(32) int32_t index[256][8];
    alignas(32) int32_t lanes[256][8];
    constexpr SparseExpandTables() : index(), lanes() {
        for (int m = 0; m < 256; ++m) {
            int k = 0;
            for (int lane = 0; lane < 8; ++lane) {
                const bool set = (m >> lane) & 1;
                index[m][lane] = set ? k : 0;
                lanes[m][lane] = set ? -1 : 0;
                k += set;
            }
        }
    }
};
constexpr SparseExpandTables kSparseExpand{};

// The next popcount(m) packed values spread onto the lanes of m's set bits, zeros elsewhere.
EDGELM_AVX2 inline __m256 sparse_expand(unsigned m, const float*& values) {
    const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(kSparseExpand.index[m]));
    const __m256 on = _mm256_castsi256_ps(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(kSparseExpand.lanes[m])));
    const __m256 w = _mm256_and_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(values), idx), on);
    values += __builtin_popcount(m);
    return w;
}

EDGELM_AVX2 float sparse_f32_dot_avx2(int64_t n, const uint8_t* mask, const float* values,
                                      const float* x) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t c = 0;
    // 64 columns at a time: the eight bytes' value offsets come from prefix popcounts of
    // one mask word, so the expansions are independent of each other and only the chunk's
    // pointer is carried from one chunk to the next.
    for (; c + 64 <= n; c += 64) {
        uint64_t word;
        __builtin_memcpy(&word, mask + c / 8, 8);
        for (int k = 0; k < 8; k += 2) {
            const float* v0 = values + __builtin_popcountll(word & ((uint64_t{1} << (8 * k)) - 1));
            const float* v1 =
                values + __builtin_popcountll(word & ((uint64_t{1} << (8 * k + 8)) - 1));
            acc0 =
                _mm256_fmadd_ps(sparse_expand(static_cast<unsigned>((word >> (8 * k)) & 0xFF), v0),
                                _mm256_loadu_ps(x + c + 8 * k), acc0);
            acc1 = _mm256_fmadd_ps(
                sparse_expand(static_cast<unsigned>((word >> (8 * k + 8)) & 0xFF), v1),
                _mm256_loadu_ps(x + c + 8 * k + 8), acc1);
        }
        values += __builtin_popcountll(word);
    }
    for (; c < n; c += 8)
        acc0 = _mm256_fmadd_ps(sparse_expand(mask[c / 8], values), _mm256_loadu_ps(x + c), acc0);
    return hsum(_mm256_add_ps(acc0, acc1));
}

EDGELM_AVX2 float clustered32_dot_avx2(int64_t n, const uint8_t* idx, const float* cb,
                                       const float* x) {
    const __m256 c0 = _mm256_loadu_ps(cb), c1 = _mm256_loadu_ps(cb + 8);
    const __m256 c2 = _mm256_loadu_ps(cb + 16), c3 = _mm256_loadu_ps(cb + 24);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx + i));
        const __m256i j0 = _mm256_cvtepu8_epi32(q);
        const __m256i j1 = _mm256_cvtepu8_epi32(_mm_srli_si128(q, 8));
        // Bit 4 of the index picks the half of the codebook, as bit 3 picks within it.
        const __m256 v0 = _mm256_blendv_ps(lookup16(j0, c0, c1), lookup16(j0, c2, c3),
                                           _mm256_castsi256_ps(_mm256_slli_epi32(j0, 27)));
        const __m256 v1 = _mm256_blendv_ps(lookup16(j1, c0, c1), lookup16(j1, c2, c3),
                                           _mm256_castsi256_ps(_mm256_slli_epi32(j1, 27)));
        acc0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(x + i + 8), acc1);
    }
    float sum = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) sum += cb[idx[i]] * x[i];
    return sum;
}

EDGELM_AVX2 float clustered8_dot_avx2(int64_t n, const uint8_t* idx, const float* cb,
                                      const float* x) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i j =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(idx + i)));
        acc = _mm256_fmadd_ps(_mm256_i32gather_ps(cb, j, 4), _mm256_loadu_ps(x + i), acc);
    }
    float sum = hsum(acc);
    for (; i < n; ++i) sum += cb[idx[i]] * x[i];
    return sum;
}

}  // namespace edgelm::x86

#endif  // __x86_64__
