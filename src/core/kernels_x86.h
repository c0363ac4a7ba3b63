// AVX2 + FMA + F16C kernels for x86-64. Compiled into every x86-64 build with function-level
// target attributes and used only after a runtime CPU check (cpu_features.h), so one binary
// runs on any x86-64 and uses AVX2 where the CPU has it. Each is tested against its scalar
// reference in type_kernels_ref.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgelm::x86 {

float f32_dot_avx2(int64_t n, const void* row, const void* act);
float f16_dot_avx2(int64_t n, const void* row, const void* act);
float bf16_dot_avx2(int64_t n, const void* row, const void* act);
float q8_0_dot_avx2(int64_t n, const void* row, const void* act);
float q4_0_dot_avx2(int64_t n, const void* row, const void* act);
// Four dot products of one weight row with four activation rows (act, act + stride,
// ...), sharing each weight load: the inner kernel of a batched matrix product.
void f32_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out);
void f16_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out);
void q8_0_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out);
void q4_0_dot4_avx2(int64_t n, const void* row, const void* act, size_t stride, float* out);
// Four dot products of four consecutive weight rows (row, row + row_bytes, ...) with one
// activation row, sharing the activation loads: the inner kernel of decoding.
void f32_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void f16_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void q8_0_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void q4_0_rows4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
// gate[i] = silu(gate[i]) * up[i], with a polynomial exp accurate to ~2 ulp.
void swiglu_avx2(float* gate, const float* up, int n);
// x[i] = exp(x[i] - max) / sum, in place.
void softmax_avx2(float* x, int n);
// The same four dot products with the four rows stored as one interleaved group
// (row_groups.h): the decoding kernel for repacked weights. n: a multiple of the unit.
void f32_group4_avx2(int64_t n, const void* group, const void* act, float* out);
void f16_group4_avx2(int64_t n, const void* group, const void* act, float* out);
void q8_0_group4_avx2(int64_t n, const void* group, const void* act, float* out);
void q4_0_group4_avx2(int64_t n, const void* group, const void* act, float* out);
// out[j * out_stride + k] = dot of group row k with activation row j (act + j * stride),
// k < 4, j < 2: the prompt kernel for repacked weights.
void f32_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                       size_t out_stride);
void f16_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                       size_t out_stride);
void q8_0_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                        size_t out_stride);
void q4_0_group4x2_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                        size_t out_stride);
// Four activation rows (j < 4), where the row side of the work is the larger share.
void q4_0_group4x4_avx2(int64_t n, const void* group, const void* act, size_t stride, float* out,
                        size_t out_stride);
// out[k * out_stride + r] = dot of weight row r (row + r * row_bytes, r < 2) with
// activation row k (act + k * stride, k < 4): the prompt kernel for float weights.
void f32_tile2x4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, size_t stride,
                      float* out, size_t out_stride);
void f16_tile2x4_avx2(int64_t n, const void* row, size_t row_bytes, const void* act, size_t stride,
                      float* out, size_t out_stride);
// One attention head (see edgelm::attend in runtime/ops.h); hd: a multiple of 8.
void attend_avx2(const float* q, const float* k, const float* v, int64_t kv_stride, int n_pos,
                 int hd, float scale, float* scores, float* out);
// out += a * v for n floats.
void axpy_avx2(float* out, float a, const float* v, int n);

float q4_k_dot_avx2(int64_t n, const void* row, const void* act);  // act: Q8_0 blocks
float q6_k_dot_avx2(int64_t n, const void* row, const void* act);  // act: Q8_0 blocks
void q8_0_from_float_avx2(const float* src, void* dst, int64_t n);
void f16_to_float_avx2(const void* src, float* dst, int64_t n);
// Clustered weights (runtime/clustered_weights.h): sum of cb[idx[i]] * x[i]. 4-bit: n a
// multiple of 32, Q4_0's nibble order, cb 16 floats; 8-bit: one byte per index.
float clustered4_dot_avx2(int64_t n, const uint8_t* idx, const float* cb, const float* x);
float clustered8_dot_avx2(int64_t n, const uint8_t* idx, const float* cb, const float* x);
// Sparse rows (runtime/sparse_weights.h): sum over the n columns (a multiple of 8) of the
// row's values, spread by the mask bits, times x. `values` is read up to 8 floats past the
// row's last non-zero (the runtime pads its copy).
float sparse_f32_dot_avx2(int64_t n, const uint8_t* mask, const float* values, const float* x);
// Byte indices below 32, cb 32 floats: looked up in registers instead of gathered.
float clustered32_dot_avx2(int64_t n, const uint8_t* idx, const float* cb, const float* x);

}  // namespace edgelm::x86
