// GGUF v3 writer (format: gguf_value.h). Metadata is kept in insertion order; tensor
// bytes are produced one tensor at a time while streaming to a temporary file, which is
// fsync'ed and renamed into place, so a failure never leaves a half-written model.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "gguf/gguf_value.h"

namespace edgelm {

class GgufWriter {
  public:
    // Produces a tensor's bytes when the writer reaches it (exactly the size declared).
    using Producer = std::function<std::vector<uint8_t>()>;

    // Sets or replaces a key, keeping its first position. Setting or removing
    // general.alignment changes the layout write() produces, as set_alignment() does.
    void set(const std::string& key, GgufValue value);
    void remove(const std::string& key);

    // `data` must stay valid until write() returns.
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> dims,
                    const void* data, uint64_t bytes);
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> dims,
                    Producer producer);

    // A power of two up to GgufLimits::kMaxAlignment; stored as general.alignment unless
    // it is the default.
    void set_alignment(uint32_t alignment);
    void write(const std::string& path) const;

  private:
    struct PendingTensor {
        std::string name;
        DType type;
        std::vector<int64_t> dims;
        uint64_t bytes;
        const void* data;
        Producer producer;
    };
    void check_tensor(const std::string& name, DType type, const std::vector<int64_t>& dims,
                      uint64_t* bytes) const;

    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::vector<PendingTensor> tensors_;
    uint32_t alignment_ = static_cast<uint32_t>(kGgufDefaultAlignment);
};

}  // namespace edgelm
