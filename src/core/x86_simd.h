// Pieces the x86-64 kernel files share (kernels_x86.cpp, kernels_avx512.cpp): the target
// attribute, the horizontal sums whose fixed order keeps every kernel shape bit-identical,
// and the layout of Q8_0 / Q4_0 row groups. Only for those files: every function here
// needs AVX2 and runs only after the runtime CPU check.
#pragma once

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.h"

#define EDGELM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace edgelm::x86 {

// Horizontal sums in one fixed order, (v0+v4 + v2+v6) + (v1+v5 + v3+v7), shared by the
// single-row and four-row kernels so that a token's result does not depend on whether
// it was computed alone or in a batch.
EDGELM_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// out[k] = hsum(a[k]) for four vectors at once, in hsum's order.
EDGELM_AVX2 inline void hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3, float* out) {
    __m128 r0 = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    __m128 r1 = _mm_add_ps(_mm256_castps256_ps128(a1), _mm256_extractf128_ps(a1, 1));
    __m128 r2 = _mm_add_ps(_mm256_castps256_ps128(a2), _mm256_extractf128_ps(a2, 1));
    __m128 r3 = _mm_add_ps(_mm256_castps256_ps128(a3), _mm256_extractf128_ps(a3, 1));
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_j now holds element j of every row
    _mm_storeu_ps(out, _mm_add_ps(_mm_add_ps(r0, r2), _mm_add_ps(r1, r3)));
}

// Row k of a matrix whose rows are `row_bytes` apart.
template <typename T>
inline const T* row_at(const void* base, size_t row_bytes, int k) {
    return reinterpret_cast<const T*>(static_cast<const uint8_t*>(base) + k * row_bytes);
}

EDGELM_AVX2 inline float f16(uint16_t h) {
    return _cvtsh_ss(h);
}

// Groups of four Q8_0 / Q4_0 rows (runtime/row_groups.h): per block, a unit of the four f16
// scales, then the four rows' quants.
constexpr int64_t kQ8Unit = 4 * sizeof(BlockQ8_0), kQ4Unit = 4 * sizeof(BlockQ4_0);

}  // namespace edgelm::x86

#endif
