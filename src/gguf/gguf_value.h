// GGUF v3, as read and written by edgelm. All integers little-endian.
//
//   header
//     u32  magic            "GGUF" (0x46554747)
//     u32  version          3 (2 is read too: same layout)
//     u64  tensor_count
//     u64  metadata_kv_count
//   metadata_kv_count times
//     str  key              str = u64 length + UTF-8 bytes, no terminator
//     u32  value_type       GgufType below
//     ...  value            scalar; str; or array = u32 element type, u64 count, elements
//   tensor_count times
//     str  name
//     u32  n_dims           1..4
//     u64  dims[n_dims]     dims[0] is the innermost (contiguous) dimension
//     u32  type             ggml_type (DType)
//     u64  offset           from the start of the data section; a multiple of alignment
//   padding to `general.alignment` (u32, default 32)
//   data section            tensor bytes at their offsets, each padded to the alignment
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgelm {

enum class GgufType : uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kGgufDefaultAlignment = 32;

const char* gguf_type_name(GgufType t);
bool gguf_type_is_valid(uint32_t raw);
// Bytes of a fixed-size scalar type; 0 for STRING and ARRAY.
uint64_t gguf_scalar_size(GgufType t);

// One metadata value. Scalars: integers in `i` (unsigned bit-cast), floats in `f`,
// booleans as 0/1 in `i`. Arrays hold their elements in `ints`, `floats` or `strings`
// according to `array_type` (nested arrays are not supported).
struct GgufValue {
    GgufType type = GgufType::U32;
    GgufType array_type = GgufType::U32;
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;

    bool is_integer() const;
    bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
    uint64_t array_size() const;

    static GgufValue u32(uint32_t v);
    static GgufValue i32(int32_t v);
    static GgufValue u64(uint64_t v);
    static GgufValue f32(float v);
    static GgufValue boolean(bool v);
    static GgufValue string(std::string v);
    static GgufValue string_array(std::vector<std::string> v);
    static GgufValue f32_array(std::vector<float> v);
    static GgufValue i32_array(std::vector<int32_t> v);

    // A short human-readable rendering (arrays summarised) for `edgelm inspect`.
    std::string to_display_string(size_t max_items = 8) const;
};

}  // namespace edgelm
