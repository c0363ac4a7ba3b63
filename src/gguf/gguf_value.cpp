#include "gguf/gguf_value.h"

#include <sstream>

namespace edgelm {

const char* gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::U8:
            return "u8";
        case GgufType::I8:
            return "i8";
        case GgufType::U16:
            return "u16";
        case GgufType::I16:
            return "i16";
        case GgufType::U32:
            return "u32";
        case GgufType::I32:
            return "i32";
        case GgufType::F32:
            return "f32";
        case GgufType::BOOL:
            return "bool";
        case GgufType::STRING:
            return "str";
        case GgufType::ARRAY:
            return "arr";
        case GgufType::U64:
            return "u64";
        case GgufType::I64:
            return "i64";
        case GgufType::F64:
            return "f64";
    }
    return "?";
}

bool gguf_type_is_valid(uint32_t raw) {
    return raw <= static_cast<uint32_t>(GgufType::F64);
}

uint64_t gguf_scalar_size(GgufType t) {
    switch (t) {
        case GgufType::U8:
        case GgufType::I8:
        case GgufType::BOOL:
            return 1;
        case GgufType::U16:
        case GgufType::I16:
            return 2;
        case GgufType::U32:
        case GgufType::I32:
        case GgufType::F32:
            return 4;
        case GgufType::U64:
        case GgufType::I64:
        case GgufType::F64:
            return 8;
        case GgufType::STRING:
        case GgufType::ARRAY:
            return 0;
    }
    return 0;
}

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufType::U8:
        case GgufType::I8:
        case GgufType::U16:
        case GgufType::I16:
        case GgufType::U32:
        case GgufType::I32:
        case GgufType::U64:
        case GgufType::I64:
            return true;
        default:
            return false;
    }
}

uint64_t GgufValue::array_size() const {
    if (type != GgufType::ARRAY) return 0;
    if (array_type == GgufType::STRING) return strings.size();
    if (array_type == GgufType::F32 || array_type == GgufType::F64) return floats.size();
    return ints.size();
}

GgufValue GgufValue::u32(uint32_t v) {
    GgufValue r;
    r.type = GgufType::U32;
    r.i = v;
    return r;
}
GgufValue GgufValue::i32(int32_t v) {
    GgufValue r;
    r.type = GgufType::I32;
    r.i = v;
    return r;
}
GgufValue GgufValue::u64(uint64_t v) {
    GgufValue r;
    r.type = GgufType::U64;
    r.i = static_cast<int64_t>(v);
    return r;
}
GgufValue GgufValue::f32(float v) {
    GgufValue r;
    r.type = GgufType::F32;
    r.f = v;
    return r;
}
GgufValue GgufValue::boolean(bool v) {
    GgufValue r;
    r.type = GgufType::BOOL;
    r.i = v ? 1 : 0;
    return r;
}
GgufValue GgufValue::string(std::string v) {
    GgufValue r;
    r.type = GgufType::STRING;
    r.s = std::move(v);
    return r;
}
GgufValue GgufValue::string_array(std::vector<std::string> v) {
    GgufValue r;
    r.type = GgufType::ARRAY;
    r.array_type = GgufType::STRING;
    r.strings = std::move(v);
    return r;
}
GgufValue GgufValue::f32_array(std::vector<float> v) {
    GgufValue r;
    r.type = GgufType::ARRAY;
    r.array_type = GgufType::F32;
    r.floats.assign(v.begin(), v.end());
    return r;
}
GgufValue GgufValue::i32_array(std::vector<int32_t> v) {
    GgufValue r;
    r.type = GgufType::ARRAY;
    r.array_type = GgufType::I32;
    r.ints.assign(v.begin(), v.end());
    return r;
}

std::string GgufValue::to_display_string(size_t max_items) const {
    std::ostringstream os;
    switch (type) {
        case GgufType::STRING:
            os << '"' << (s.size() > 80 ? s.substr(0, 77) + "..." : s) << '"';
            break;
        case GgufType::BOOL:
            os << (i ? "true" : "false");
            break;
        case GgufType::F32:
        case GgufType::F64:
            os << f;
            break;
        case GgufType::U64:
            os << static_cast<uint64_t>(i);
            break;
        case GgufType::ARRAY: {
            uint64_t n = array_size();
            os << "[" << gguf_type_name(array_type) << " x " << n << "]";
            if (n > 0) os << " ";
            for (uint64_t k = 0; k < n && k < max_items; ++k) {
                if (k) os << ", ";
                if (array_type == GgufType::STRING)
                    os << '"' << strings[k] << '"';
                else if (array_type == GgufType::F32 || array_type == GgufType::F64)
                    os << floats[k];
                else
                    os << ints[k];
            }
            if (n > max_items) os << ", ...";
            break;
        }
        default:
            os << i;
            break;
    }
    return os.str();
}

}  // namespace edgelm
