// Scalar reference kernels for every runnable type: to-float, from-float (ggml's
// reference rounding) and dot products. They stay forever: SIMD variants are tested
// against them.
#pragma once

#include <cstdint>

namespace edgelm::ref {

void f32_to_float(const void* src, float* dst, int64_t n);
void f32_from_float(const float* src, void* dst, int64_t n);
float f32_dot(int64_t n, const void* row, const void* act);

void f16_to_float(const void* src, float* dst, int64_t n);
void f16_from_float(const float* src, void* dst, int64_t n);
float f16_dot(int64_t n, const void* row, const void* act);

void bf16_to_float(const void* src, float* dst, int64_t n);
void bf16_from_float(const float* src, void* dst, int64_t n);
float bf16_dot(int64_t n, const void* row, const void* act);

void q8_0_to_float(const void* src, float* dst, int64_t n);
void q8_0_from_float(const float* src, void* dst, int64_t n);
float q8_0_dot(int64_t n, const void* row, const void* act);  // act: Q8_0 blocks

void q4_0_to_float(const void* src, float* dst, int64_t n);
void q4_0_from_float(const float* src, void* dst, int64_t n);
float q4_0_dot(int64_t n, const void* row, const void* act);  // act: Q8_0 blocks

void q4_k_to_float(const void* src, float* dst, int64_t n);
void q4_k_from_float(const float* src, void* dst, int64_t n);  // bit-exact with ggml's
float q4_k_dot(int64_t n, const void* row, const void* act);   // act: Q8_0 blocks
void q6_k_to_float(const void* src, float* dst, int64_t n);
void q6_k_from_float(const float* src, void* dst, int64_t n);  // bit-exact with ggml's
float q6_k_dot(int64_t n, const void* row, const void* act);   // act: Q8_0 blocks

}  // namespace edgelm::ref
