// Tensor element types. The numeric values are ggml's `ggml_type` ids as stored in GGUF.
//
// Two tables: storage_info() knows the block size and bytes of every ggml type, so that
// any GGUF file can be validated and inspected; type_traits() holds the compute functions
// (dequantize, quantize, dot) for the types edgelm runs. Every kernel and tool goes
// through these tables instead of switching on the type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgelm {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
};

struct StorageInfo {
    const char* name;    // ggml's lower-case name: "f32", "q8_0", ...
    int64_t block_size;  // elements per block
    uint64_t block_bytes;
};

// Storage facts of a ggml type id, or nullopt for an id no ggml version defines.
std::optional<StorageInfo> storage_info(uint32_t raw_type);

// dot(n, row, act): dot product of n elements of a weight row of this type with
// activations already converted to the traits' act_type.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
using DotFn = float (*)(int64_t n, const void* row, const void* act);
// out[k] = dot(n, row, act + k * stride) for k < 4: one weight row against four
// activation rows, sharing the weight loads (the inner kernel of batched products).
using Dot4Fn = void (*)(int64_t n, const void* row, const void* act, size_t stride, float* out);
// out[k] = dot(n, row + k * row_bytes, act) for k < 4: four weight rows against one
// activation row (the inner kernel of decoding).
using Rows4Fn = void (*)(int64_t n, const void* row, size_t row_bytes, const void* act, float* out);
// out[k * out_stride + r] = dot(n, row + r * row_bytes, act + k * stride) for r < 2, k < 4:
// the prompt kernel where loads, not multiplies, are the limit (float weights).
using Tile2x4Fn = void (*)(int64_t n, const void* row, size_t row_bytes, const void* act,
                           size_t stride, float* out, size_t out_stride);

// out[k] = dot(n, row k, act) for k < 4, the four rows stored as one interleaved group:
// unit u of rows 0..3 side by side, then unit u + 1 (a unit is a block of a quantized
// type, or 8 elements of a float type; see runtime/row_groups.h).
using Group4Fn = void (*)(int64_t n, const void* group, const void* act, float* out);

// out[j * out_stride + k] = dot(n, group row k, act + j * stride) for k < 4, j < 2.
using Group4x2Fn = void (*)(int64_t n, const void* group, const void* act, size_t stride,
                            float* out, size_t out_stride);

// Row-group kernels may read their activation rows in a prepared form (the AVX-512
// quantized kernels: each Q8_0 block with the terms every weight row would recompute):
// prepare_act converts one activation row of n columns into prepared_bytes(n) bytes at a
// 64-byte aligned `out`, and group4/group4x2/group4x4 then take those rows.
using PrepareActFn = void (*)(int64_t n, const void* act, void* out);
using PreparedBytesFn = size_t (*)(int64_t n);

struct TypeTraits {
    DType type;
    const char* name;
    int64_t block_size;
    uint64_t block_bytes;
    ToFloatFn to_float;
    FromFloatFn from_float;  // round to nearest, ggml's reference rounding; null: decode only
    DotFn dot;
    DType act_type;                      // F32 for float weights, Q8_0 for the quantized ones
    Dot4Fn dot4;                         // null: use dot four times
    Rows4Fn rows4;                       // null: use dot four times
    Tile2x4Fn tile2x4 = nullptr;         // null: use dot4
    Group4Fn group4 = nullptr;           // null: weights of this type stay in plain rows
    Group4x2Fn group4x2 = nullptr;       // set with group4
    Group4x2Fn group4x4 = nullptr;       // four activation rows (j < 4); null: pairs
    PrepareActFn prepare_act = nullptr;  // null: group kernels read the act_type rows
    PreparedBytesFn prepared_bytes = nullptr;
};

// One implementation of a type's kernels on one instruction set (dot4 and rows4 give
// results bit-identical to dot); type_traits() holds the
// best one the CPU supports, and tests compare every variant with "scalar".
struct KernelVariant {
    const char* isa;
    ToFloatFn to_float;
    FromFloatFn from_float;
    DotFn dot;
    Dot4Fn dot4;
    Rows4Fn rows4;
    Tile2x4Fn tile2x4 = nullptr;
    Group4Fn group4 = nullptr;
    Group4x2Fn group4x2 = nullptr;
    Group4x2Fn group4x4 = nullptr;
    PrepareActFn prepare_act = nullptr;
    PreparedBytesFn prepared_bytes = nullptr;
};
// The scalar reference first, then every SIMD variant compiled in and supported here.
std::vector<KernelVariant> kernel_variants(DType t);

// Compute traits for a type edgelm runs (f32, f16, bf16, q8_0, q4_0, and q6_K for
// decoding only); nullptr otherwise.
const TypeTraits* find_type_traits(DType t);
// As above but throws ArgumentError naming the type.
const TypeTraits& type_traits(DType t);

const char* dtype_name(DType t);
// "f32", "F16", "q8_0", ... (case-insensitive) -> a type edgelm can write (from_float).
std::optional<DType> runnable_dtype_from_name(std::string_view name);

// Bytes of n elements (n a multiple of the block size), or nullopt on overflow / misfit.
std::optional<uint64_t> row_bytes(DType t, int64_t n);

}  // namespace edgelm
