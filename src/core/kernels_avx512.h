// AVX-512 (F, BW, VL, VNNI) versions of the row-group kernels: the prompt and decoding
// kernels for weights repacked into 4-row groups (runtime/row_groups.h). A zmm register
// holds two rows' 8-lane accumulators side by side, so each lane does exactly the
// arithmetic the AVX2 kernel does for its row, and the results are bit-identical to the
// AVX2 kernels' (tests/type_kernels_test.cpp checks every variant's shapes against its dot,
// and the dots against the scalar reference). Quantized
// rows use VNNI's vpdpbusd (unsigned x signed bytes summed into int32 lanes without the
// int16 step): Q4_0 nibbles are already unsigned; Q8_0 weights are offset by 128 and
// 128·Σx subtracted, the same integers as the AVX2 sign trick. The quantized kernels read
// prepared activation rows (TypeTraits::prepare_act): per Q8_0 block, its 32 bytes twice
// (one zmm) and -offset·Σx per int32 lane twice, then every block's dx; each weight group
// would otherwise recompute those for every token.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgelm::x86 {

// Q6_K rows against Q8_0 activations, 64 weights per step (vpdpbusd on the unsigned 6-bit
// values, 32·Σx subtracted, the 16-weight scales applied to the int32 lanes). Q6_K has no
// other shape, so its sums need only agree with the reference within rounding.
float q6_k_dot_avx512(int64_t n, const void* row, const void* act);

// Prepared activation rows for the Q4_0 (offset 8) and Q8_0 (offset 128) group kernels.
size_t quant_prepared_bytes_avx512(int64_t n);
void q4_0_prepare_avx512(int64_t n, const void* act, void* out);
void q8_0_prepare_avx512(int64_t n, const void* act, void* out);

void f32_group4_avx512(int64_t n, const void* group, const void* act, float* out);
void f16_group4_avx512(int64_t n, const void* group, const void* act, float* out);
void q8_0_group4_avx512(int64_t n, const void* group, const void* act, float* out);
void q4_0_group4_avx512(int64_t n, const void* group, const void* act, float* out);
void f32_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride);
void f16_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride);
void q8_0_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride);
void q4_0_group4x2_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride);
void f32_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride);
void f16_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                         size_t out_stride);
void q8_0_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride);
void q4_0_group4x4_avx512(int64_t n, const void* group, const void* act, size_t stride, float* out,
                          size_t out_stride);

}  // namespace edgelm::x86
