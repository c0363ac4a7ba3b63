#include "gguf/gguf_writer.h"

#include <limits>

#include "core/atomic_file.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"

namespace edgelm {

namespace {

template <typename T>
void put(AtomicFileWriter& w, T v) {
    w.write(&v, sizeof v);
}

void put_string(AtomicFileWriter& w, const std::string& s) {
    put<uint64_t>(w, s.size());
    w.write(s.data(), s.size());
}

void put_int(AtomicFileWriter& w, GgufType t, int64_t v) {
    switch (t) {
        case GgufType::U8:
        case GgufType::BOOL:
            put<uint8_t>(w, static_cast<uint8_t>(v));
            break;
        case GgufType::I8:
            put<int8_t>(w, static_cast<int8_t>(v));
            break;
        case GgufType::U16:
            put<uint16_t>(w, static_cast<uint16_t>(v));
            break;
        case GgufType::I16:
            put<int16_t>(w, static_cast<int16_t>(v));
            break;
        case GgufType::U32:
            put<uint32_t>(w, static_cast<uint32_t>(v));
            break;
        case GgufType::I32:
            put<int32_t>(w, static_cast<int32_t>(v));
            break;
        case GgufType::U64:
            put<uint64_t>(w, static_cast<uint64_t>(v));
            break;
        case GgufType::I64:
            put<int64_t>(w, v);
            break;
        default:
            break;
    }
}

void put_value(AtomicFileWriter& w, const GgufValue& v) {
    switch (v.type) {
        case GgufType::STRING:
            put_string(w, v.s);
            break;
        case GgufType::F32:
            put<float>(w, static_cast<float>(v.f));
            break;
        case GgufType::F64:
            put<double>(w, v.f);
            break;
        case GgufType::ARRAY:
            put<uint32_t>(w, static_cast<uint32_t>(v.array_type));
            put<uint64_t>(w, v.array_size());
            if (v.array_type == GgufType::STRING) {
                for (const auto& s : v.strings) put_string(w, s);
            } else if (v.array_type == GgufType::F32) {
                for (double f : v.floats) put<float>(w, static_cast<float>(f));
            } else if (v.array_type == GgufType::F64) {
                for (double f : v.floats) put<double>(w, f);
            } else {
                for (int64_t i : v.ints) put_int(w, v.array_type, i);
            }
            break;
        default:
            put_int(w, v.type, v.i);
            break;
    }
}

void check_alignment(uint64_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 ||
        alignment > GgufLimits::kMaxAlignment)
        throw ArgumentError("GGUF alignment must be a power of two up to " +
                            std::to_string(GgufLimits::kMaxAlignment) + ", got " +
                            std::to_string(alignment));
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
    if (value.type == GgufType::ARRAY && value.array_type == GgufType::ARRAY)
        throw ArgumentError("GGUF key '" + key + "': nested arrays are not supported");
    // The key and the layout write() produces must agree, however the key is set.
    if (key == keys::kAlignment) {
        if (value.type != GgufType::U32)
            throw ArgumentError("GGUF key '" + key + "' must be u32, got " +
                                gguf_type_name(value.type));
        check_alignment(static_cast<uint64_t>(value.i));
        alignment_ = static_cast<uint32_t>(value.i);
    }
    for (auto& kv : kv_) {
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    }
    kv_.emplace_back(key, std::move(value));
}

void GgufWriter::remove(const std::string& key) {
    if (key == keys::kAlignment) alignment_ = static_cast<uint32_t>(kGgufDefaultAlignment);
    std::erase_if(kv_, [&](const auto& kv) { return kv.first == key; });
}

void GgufWriter::set_alignment(uint32_t alignment) {
    check_alignment(alignment);
    if (alignment == kGgufDefaultAlignment)
        remove(keys::kAlignment);
    else
        set(keys::kAlignment, GgufValue::u32(alignment));
}

void GgufWriter::check_tensor(const std::string& name, DType type, const std::vector<int64_t>& dims,
                              uint64_t* bytes) const {
    for (const auto& t : tensors_)
        if (t.name == name) throw ArgumentError("GGUF tensor '" + name + "' added twice");
    if (dims.empty() || dims.size() > 4)
        throw ArgumentError("GGUF tensor '" + name + "': 1 to 4 dimensions required");
    uint64_t n = 1;
    for (int64_t d : dims) {
        auto p = d > 0 ? checked_mul(n, static_cast<uint64_t>(d)) : std::nullopt;
        if (!p || *p > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw ArgumentError("GGUF tensor '" + name + "': bad dimension " + std::to_string(d));
        n = *p;
    }
    auto info = storage_info(static_cast<uint32_t>(type));
    if (!info || dims[0] % info->block_size != 0)
        throw ArgumentError("GGUF tensor '" + name + "': row of " + std::to_string(dims[0]) +
                            " is not a multiple of the " + dtype_name(type) + " block size");
    auto size = checked_mul(n / static_cast<uint64_t>(info->block_size), info->block_bytes);
    if (!size) throw ArgumentError("GGUF tensor '" + name + "': data size overflows");
    *bytes = *size;
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> dims,
                            const void* data, uint64_t bytes) {
    uint64_t expected = 0;
    check_tensor(name, type, dims, &expected);
    if (bytes != expected)
        throw ArgumentError("GGUF tensor '" + name + "': " + std::to_string(bytes) +
                            " bytes given, shape needs " + std::to_string(expected));
    tensors_.push_back({name, type, std::move(dims), bytes, data, nullptr});
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> dims,
                            Producer producer) {
    uint64_t expected = 0;
    check_tensor(name, type, dims, &expected);
    tensors_.push_back({name, type, std::move(dims), expected, nullptr, std::move(producer)});
}

void GgufWriter::write(const std::string& path) const {
    AtomicFileWriter w(path);
    put<uint32_t>(w, kGgufMagic);
    put<uint32_t>(w, kGgufVersion);
    put<uint64_t>(w, tensors_.size());
    put<uint64_t>(w, kv_.size());
    for (const auto& [key, value] : kv_) {
        put_string(w, key);
        put<uint32_t>(w, static_cast<uint32_t>(value.type));
        put_value(w, value);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        put_string(w, t.name);
        put<uint32_t>(w, static_cast<uint32_t>(t.dims.size()));
        for (int64_t d : t.dims) put<uint64_t>(w, static_cast<uint64_t>(d));
        put<uint32_t>(w, static_cast<uint32_t>(t.type));
        put<uint64_t>(w, offset);
        offset = *checked_align_up(offset + t.bytes, alignment_);
    }
    w.write_zeros(*checked_align_up(w.bytes_written(), alignment_) - w.bytes_written());
    for (const auto& t : tensors_) {
        if (t.producer) {
            std::vector<uint8_t> bytes = t.producer();
            if (bytes.size() != t.bytes)
                throw Error("GGUF tensor '" + t.name + "': producer gave " +
                            std::to_string(bytes.size()) + " bytes, expected " +
                            std::to_string(t.bytes));
            w.write(bytes.data(), bytes.size());
        } else {
            w.write(t.data, t.bytes);
        }
        w.write_zeros(*checked_align_up(t.bytes, alignment_) - t.bytes);
    }
    w.commit();
}

}  // namespace edgelm
