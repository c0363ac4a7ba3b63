// A read-only memory-mapped file. Model weights are used in place from the mapping, so a
// model costs page cache, not heap, and loads in the time it takes to parse its header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgelm {

class MappedFile {
  public:
    // Maps the whole file read-only. Throws IoError naming the path on failure.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Drops the pages lying wholly inside [p, p + n) from this process's memory (a hint:
    // they are read again from the page cache if touched). For data copied elsewhere.
    void release(const uint8_t* p, uint64_t n) const;

  private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

// Reads a whole file into a string (text inputs, small files). Throws IoError.
std::string read_text_file(const std::string& path);

}  // namespace edgelm
