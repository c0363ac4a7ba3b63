// GGUF reader over a memory-mapped file (format: gguf_value.h). Tensor data is not
// copied: each tensor is a view into the mapping. The file is untrusted input: every
// count, length, offset and size is checked against the file with overflow-safe
// arithmetic, and a bad file raises FormatError naming the field and byte offset.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "gguf/gguf_value.h"

namespace edgelm {

// Limits on untrusted files; each is far above what a real model needs.
struct GgufLimits {
    static constexpr uint64_t kMaxTensors = 1u << 20;
    static constexpr uint64_t kMaxKeyValues = 1u << 20;
    static constexpr uint64_t kMaxKeyBytes = 1u << 16;
    static constexpr uint64_t kMaxStringBytes = 1u << 28;
    static constexpr uint32_t kMaxDims = 4;
    static constexpr uint64_t kMaxAlignment = 1u << 16;
};

struct GgufTensor {
    std::string name;
    std::vector<int64_t> dims;  // dims[0] innermost
    DType type;
    uint64_t offset;  // from the start of the data section
    uint64_t bytes;
    int64_t n_elements;
    const uint8_t* data;  // into the mapping

    int64_t rows() const;  // product of dims[1..]
    int64_t cols() const { return dims.empty() ? 1 : dims[0]; }
};

class GgufFile {
  public:
    // Maps and validates the file. Throws IoError / FormatError.
    explicit GgufFile(const std::string& path);

    const std::string& path() const { return file_.path(); }
    uint64_t file_size() const { return file_.size(); }
    const uint8_t* raw_bytes() const { return file_.data(); }
    // See MappedFile::release: for tensor data the caller has copied.
    void release_pages(const uint8_t* p, uint64_t n) const { file_.release(p, n); }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }

    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
    const std::vector<GgufTensor>& tensors() const { return tensors_; }

    const GgufValue* find(const std::string& key) const;
    const GgufTensor* find_tensor(const std::string& name) const;
    // As find_tensor but throws FormatError("FILE: missing tensor NAME").
    const GgufTensor& tensor(const std::string& name) const;

    // Typed getters. nullopt when the key is absent; FormatError when present with a
    // type that cannot represent the request (e.g. a string for an integer, a negative
    // value for an unsigned, an integer that does not fit).
    std::optional<uint64_t> get_uint(const std::string& key) const;
    std::optional<int64_t> get_int(const std::string& key) const;
    std::optional<double> get_float(const std::string& key) const;
    std::optional<bool> get_bool(const std::string& key) const;
    std::optional<std::string> get_string(const std::string& key) const;
    // An array value with the given element kind; throws if the element type differs.
    const GgufValue* get_array(const std::string& key, GgufType elem) const;

    [[noreturn]] void fail_key(const std::string& key, const std::string& what) const;

  private:
    void parse();

    MappedFile file_;
    uint32_t version_ = 0;
    uint64_t alignment_ = kGgufDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<GgufTensor> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace edgelm
