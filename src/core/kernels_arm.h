// NEON (Advanced SIMD) kernels for aarch64, where NEON and f16 <-> f32 conversion are part
// of the base architecture, so the "neon" variants run on every aarch64 CPU. The quantized
// dot products have a second, "dotprod" form using SDOT (Armv8.2-A dotprod), compiled with
// a function-level target and used only after a runtime CPU check (cpu_features.h). Each
// is tested against its scalar reference in type_kernels_ref.cpp; dot4 and rows4 give
// results bit-identical to the same variant's dot. Compiled only on aarch64.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgelm::arm {

float f32_dot_neon(int64_t n, const void* row, const void* act);
float f16_dot_neon(int64_t n, const void* row, const void* act);
float bf16_dot_neon(int64_t n, const void* row, const void* act);
float q8_0_dot_neon(int64_t n, const void* row, const void* act);
float q4_0_dot_neon(int64_t n, const void* row, const void* act);
// Four dot products of one weight row with four activation rows (act, act + stride,
// ...), sharing each weight load: the inner kernel of a batched matrix product.
void f32_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out);
void f16_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out);
void bf16_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out);
void q8_0_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out);
void q4_0_dot4_neon(int64_t n, const void* row, const void* act, size_t stride, float* out);
// Four dot products of four consecutive weight rows (row, row + row_bytes, ...) with one
// activation row, sharing the activation loads: the inner kernel of decoding.
void f32_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void f16_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void bf16_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void q8_0_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void q4_0_rows4_neon(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);

// The quantized kernels with SDOT: only on a CPU with cpu_features().neon_dotprod.
float q8_0_dot_dotprod(int64_t n, const void* row, const void* act);
float q4_0_dot_dotprod(int64_t n, const void* row, const void* act);
void q8_0_dot4_dotprod(int64_t n, const void* row, const void* act, size_t stride, float* out);
void q4_0_dot4_dotprod(int64_t n, const void* row, const void* act, size_t stride, float* out);
void q8_0_rows4_dotprod(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
void q4_0_rows4_dotprod(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);

// out += a * v for n floats (each element one fused multiply-add).
void axpy_neon(float* out, float a, const float* v, int n);

// Bit-exact with the scalar references ref::q8_0_from_float and ref::f16_to_float (the
// latter for every non-NaN half: the hardware conversion quiets signalling NaNs).
void q8_0_from_float_neon(const float* src, void* dst, int64_t n);
void f16_to_float_neon(const void* src, float* dst, int64_t n);

}  // namespace edgelm::arm
