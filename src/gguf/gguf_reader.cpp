#include "gguf/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/checked_math.h"
#include "core/error.h"

namespace edgelm {

namespace {

// A bounds-checked little-endian cursor over the mapped bytes. Every read names the
// field it reads, so errors say what was being read and where.
class Cursor {
  public:
    Cursor(const std::string& path, const uint8_t* data, uint64_t size)
        : path_(path), data_(data), size_(size) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    [[noreturn]] void fail(const std::string& field, uint64_t at, const std::string& what) const {
        throw FormatError(path_ + ": invalid GGUF: " + field + " at byte offset " +
                          std::to_string(at) + ": " + what);
    }

    void need(uint64_t n, const std::string& field) const {
        if (n > remaining())
            fail(field, pos_,
                 "needs " + std::to_string(n) + " bytes but the file ends after " +
                     std::to_string(remaining()) + " (truncated file?)");
    }

    template <typename T>
    T read(const std::string& field) {
        need(sizeof(T), field);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string read_string(const std::string& field, uint64_t max_bytes) {
        const uint64_t at = pos_;
        const uint64_t len = read<uint64_t>(field + " length");
        if (len > max_bytes)
            fail(field, at,
                 "string length " + std::to_string(len) + " exceeds the limit of " +
                     std::to_string(max_bytes));
        need(len, field);
        std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
        pos_ += len;
        return s;
    }

  private:
    const std::string& path_;
    const uint8_t* data_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

int64_t read_int_scalar(Cursor& c, GgufType t, const std::string& field) {
    switch (t) {
        case GgufType::U8:
            return c.read<uint8_t>(field);
        case GgufType::I8:
            return c.read<int8_t>(field);
        case GgufType::U16:
            return c.read<uint16_t>(field);
        case GgufType::I16:
            return c.read<int16_t>(field);
        case GgufType::U32:
            return c.read<uint32_t>(field);
        case GgufType::I32:
            return c.read<int32_t>(field);
        case GgufType::U64:
            return static_cast<int64_t>(c.read<uint64_t>(field));
        case GgufType::I64:
            return c.read<int64_t>(field);
        case GgufType::BOOL: {
            const uint64_t at = c.pos();
            uint8_t b = c.read<uint8_t>(field);
            if (b > 1) c.fail(field, at, "bool value " + std::to_string(b) + " is not 0 or 1");
            return b;
        }
        default:
            return 0;
    }
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& field) {
    GgufValue v;
    v.type = type;
    if (type == GgufType::STRING) {
        v.s = c.read_string(field, GgufLimits::kMaxStringBytes);
    } else if (type == GgufType::F32) {
        v.f = c.read<float>(field);
    } else if (type == GgufType::F64) {
        v.f = c.read<double>(field);
    } else if (type == GgufType::ARRAY) {
        const uint64_t at = c.pos();
        const uint32_t raw = c.read<uint32_t>(field + " element type");
        if (!gguf_type_is_valid(raw))
            c.fail(field, at, "unknown array element type " + std::to_string(raw));
        v.array_type = static_cast<GgufType>(raw);
        if (v.array_type == GgufType::ARRAY) c.fail(field, at, "nested arrays are not supported");
        const uint64_t count_at = c.pos();
        const uint64_t n = c.read<uint64_t>(field + " count");
        // Every element takes at least one byte (strings at least eight), so a count
        // larger than the bytes left is a lie; checking here bounds the allocation.
        const uint64_t min_elem =
            v.array_type == GgufType::STRING ? 8 : gguf_scalar_size(v.array_type);
        if (n > c.remaining() / min_elem)
            c.fail(field, count_at,
                   "array count " + std::to_string(n) + " exceeds the " +
                       std::to_string(c.remaining()) + " bytes left in the file");
        if (v.array_type == GgufType::STRING) {
            v.strings.reserve(n);
            for (uint64_t k = 0; k < n; ++k)
                v.strings.push_back(c.read_string(field + "[" + std::to_string(k) + "]",
                                                  GgufLimits::kMaxStringBytes));
        } else if (v.array_type == GgufType::F32 || v.array_type == GgufType::F64) {
            v.floats.reserve(n);
            for (uint64_t k = 0; k < n; ++k)
                v.floats.push_back(v.array_type == GgufType::F32 ? c.read<float>(field)
                                                                 : c.read<double>(field));
        } else {
            v.ints.reserve(n);
            for (uint64_t k = 0; k < n; ++k)
                v.ints.push_back(read_int_scalar(c, v.array_type, field));
        }
    } else {
        v.i = read_int_scalar(c, type, field);
    }
    return v;
}

}  // namespace

int64_t GgufTensor::rows() const {
    int64_t r = 1;
    for (size_t k = 1; k < dims.size(); ++k) r *= dims[k];
    return r;
}

GgufFile::GgufFile(const std::string& path) : file_(path) {
    parse();
}

void GgufFile::parse() {
    Cursor c(file_.path(), file_.data(), file_.size());

    const uint32_t magic = c.read<uint32_t>("magic");
    if (magic != kGgufMagic)
        c.fail("magic", 0, "not a GGUF file (the first four bytes are not \"GGUF\")");
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3)
        c.fail("version", 4,
               "unsupported GGUF version " + std::to_string(version_) + " (edgelm reads 2 and 3)");
    const uint64_t n_tensors = c.read<uint64_t>("tensor_count");
    if (n_tensors > GgufLimits::kMaxTensors)
        c.fail("tensor_count", 8,
               std::to_string(n_tensors) + " tensors exceeds the limit of " +
                   std::to_string(GgufLimits::kMaxTensors));
    const uint64_t n_kv = c.read<uint64_t>("metadata_kv_count");
    if (n_kv > GgufLimits::kMaxKeyValues)
        c.fail("metadata_kv_count", 16,
               std::to_string(n_kv) + " key-value pairs exceeds the limit of " +
                   std::to_string(GgufLimits::kMaxKeyValues));

    for (uint64_t k = 0; k < n_kv; ++k) {
        const std::string field = "metadata[" + std::to_string(k) + "]";
        const uint64_t key_at = c.pos();
        std::string key = c.read_string(field + " key", GgufLimits::kMaxKeyBytes);
        if (key.empty()) c.fail(field + " key", key_at, "empty key");
        if (kv_index_.count(key)) c.fail("key '" + key + "'", key_at, "duplicate key");
        const uint64_t type_at = c.pos();
        const uint32_t raw = c.read<uint32_t>("key '" + key + "' type");
        if (!gguf_type_is_valid(raw))
            c.fail("key '" + key + "' type", type_at, "unknown value type " + std::to_string(raw));
        GgufValue v = read_value(c, static_cast<GgufType>(raw), "key '" + key + "' value");
        kv_index_.emplace(key, kv_.size());
        kv_.emplace_back(std::move(key), std::move(v));
    }

    if (const GgufValue* a = find("general.alignment")) {
        if (a->type != GgufType::U32)
            fail_key("general.alignment",
                     std::string("must be u32, found ") + gguf_type_name(a->type));
        const uint64_t al = static_cast<uint64_t>(a->i);
        if (al == 0 || (al & (al - 1)) != 0 || al > GgufLimits::kMaxAlignment)
            fail_key("general.alignment", std::to_string(al) + " is not a power of two up to " +
                                              std::to_string(GgufLimits::kMaxAlignment));
        alignment_ = al;
    }

    // A tensor_info takes at least 33 bytes; bound the reservation by what the file holds.
    tensors_.reserve(std::min<uint64_t>(n_tensors, c.remaining() / 33));
    for (uint64_t k = 0; k < n_tensors; ++k) {
        const std::string field = "tensor_info[" + std::to_string(k) + "]";
        const uint64_t at = c.pos();
        GgufTensor t{};
        t.name = c.read_string(field + " name", GgufLimits::kMaxKeyBytes);
        const std::string tf = "tensor '" + t.name + "'";
        if (t.name.empty()) c.fail(field + " name", at, "empty tensor name");
        if (tensor_index_.count(t.name)) c.fail(tf, at, "duplicate tensor name");
        const uint64_t dims_at = c.pos();
        const uint32_t n_dims = c.read<uint32_t>(tf + " n_dims");
        if (n_dims == 0 || n_dims > GgufLimits::kMaxDims)
            c.fail(tf + " n_dims", dims_at,
                   std::to_string(n_dims) + " dimensions (must be 1.." +
                       std::to_string(GgufLimits::kMaxDims) + ")");
        uint64_t n_elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t dim_at = c.pos();
            const uint64_t dim = c.read<uint64_t>(tf + " dims[" + std::to_string(d) + "]");
            if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                c.fail(tf + " dims[" + std::to_string(d) + "]", dim_at,
                       "dimension " + std::to_string(dim) + " is out of range");
            auto prod = checked_mul(n_elements, dim);
            if (!prod || *prod > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                c.fail(tf + " dims", dim_at, "element count overflows");
            n_elements = *prod;
            t.dims.push_back(static_cast<int64_t>(dim));
        }
        const uint64_t type_at = c.pos();
        const uint32_t raw_type = c.read<uint32_t>(tf + " type");
        auto info = storage_info(raw_type);
        if (!info) c.fail(tf + " type", type_at, "unknown tensor type " + std::to_string(raw_type));
        t.type = static_cast<DType>(raw_type);
        if (t.dims[0] % info->block_size != 0)
            c.fail(tf + " dims[0]", dims_at,
                   std::to_string(t.dims[0]) + " is not a multiple of the " + info->name +
                       " block size " + std::to_string(info->block_size));
        auto bytes =
            checked_mul(n_elements / static_cast<uint64_t>(info->block_size), info->block_bytes);
        if (!bytes) c.fail(tf, at, "data size overflows");
        t.bytes = *bytes;
        t.n_elements = static_cast<int64_t>(n_elements);
        const uint64_t off_at = c.pos();
        t.offset = c.read<uint64_t>(tf + " offset");
        if (t.offset % alignment_ != 0)
            c.fail(tf + " offset", off_at,
                   std::to_string(t.offset) + " is not a multiple of the alignment " +
                       std::to_string(alignment_));
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    auto data_start = checked_align_up(c.pos(), alignment_);
    if (!data_start) c.fail("data section", c.pos(), "offset overflows");
    data_offset_ = *data_start;
    if (n_tensors > 0 && data_offset_ > file_.size())
        c.fail("data section", c.pos(),
               "starts at byte " + std::to_string(data_offset_) + " past the end of the file (" +
                   std::to_string(file_.size()) + " bytes)");
    const uint64_t data_size = n_tensors > 0 ? file_.size() - data_offset_ : 0;
    for (GgufTensor& t : tensors_) {
        // Every tensor is padded to the alignment, the last one too: a file that ends
        // inside that padding has been cut short.
        auto end = checked_add(t.offset, t.bytes);
        auto padded_end = end ? checked_align_up(*end, alignment_) : std::nullopt;
        if (!padded_end || *padded_end > data_size)
            throw FormatError(file_.path() + ": invalid GGUF: tensor '" + t.name +
                              "' data at byte offset " + std::to_string(data_offset_ + t.offset) +
                              ": needs " + std::to_string(t.bytes) + " bytes padded to " +
                              std::to_string(alignment_) + " but the data section holds " +
                              std::to_string(data_size) + " (truncated file?)");
        t.data = file_.data() + data_offset_ + t.offset;
    }
    // Overlapping tensors would alias weights; a well-formed writer never produces them.
    std::vector<const GgufTensor*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
    for (size_t k = 1; k < by_offset.size(); ++k)
        if (by_offset[k - 1]->offset + by_offset[k - 1]->bytes > by_offset[k]->offset)
            throw FormatError(file_.path() + ": invalid GGUF: tensor '" + by_offset[k]->name +
                              "' data at byte offset " +
                              std::to_string(data_offset_ + by_offset[k]->offset) +
                              " overlaps tensor '" + by_offset[k - 1]->name + "'");
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
    const GgufTensor* t = find_tensor(name);
    if (!t) throw FormatError(path() + ": missing tensor '" + name + "'");
    return *t;
}

void GgufFile::fail_key(const std::string& key, const std::string& what) const {
    throw FormatError(path() + ": metadata key '" + key + "': " + what);
}

std::optional<uint64_t> GgufFile::get_uint(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer())
        fail_key(key, std::string("expected an integer, found ") + gguf_type_name(v->type));
    if (v->type != GgufType::U64 && v->i < 0)
        fail_key(key, "negative value " + std::to_string(v->i));
    return static_cast<uint64_t>(v->i);
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer())
        fail_key(key, std::string("expected an integer, found ") + gguf_type_name(v->type));
    if (v->type == GgufType::U64 && v->i < 0) fail_key(key, "value does not fit in int64");
    return v->i;
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_float()) return v->f;
    if (v->is_integer()) return static_cast<double>(v->i);
    fail_key(key, std::string("expected a number, found ") + gguf_type_name(v->type));
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufType::BOOL)
        fail_key(key, std::string("expected bool, found ") + gguf_type_name(v->type));
    return v->i != 0;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufType::STRING)
        fail_key(key, std::string("expected str, found ") + gguf_type_name(v->type));
    return v->s;
}

const GgufValue* GgufFile::get_array(const std::string& key, GgufType elem) const {
    const GgufValue* v = find(key);
    if (!v) return nullptr;
    if (v->type != GgufType::ARRAY)
        fail_key(key, std::string("expected an array, found ") + gguf_type_name(v->type));
    const bool want_int =
        elem != GgufType::STRING && elem != GgufType::F32 && elem != GgufType::F64;
    const bool have_int = v->array_type != GgufType::STRING && v->array_type != GgufType::F32 &&
                          v->array_type != GgufType::F64;
    if (v->array_type != elem && !(want_int && have_int))
        fail_key(key, std::string("expected an array of ") + gguf_type_name(elem) + ", found " +
                          gguf_type_name(v->array_type));
    return v;
}

}  // namespace edgelm
