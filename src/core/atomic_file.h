// Writes a file so that readers see either the old file or the complete new one: data
// goes to a temporary file in the same directory, is fsync'ed, then renamed into place.
// If the writer is destroyed without commit() (an exception, a bad input), the temporary
// file is removed and the destination is untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgelm {

class AtomicFileWriter {
  public:
    explicit AtomicFileWriter(const std::string& path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(const void* data, size_t n);
    void write_zeros(size_t n);
    uint64_t bytes_written() const { return written_; }

    // Flushes, fsyncs, renames over the destination and fsyncs the directory.
    void commit();

  private:
    void flush_buffer();

    std::string path_, tmp_path_;
    int fd_ = -1;
    uint64_t written_ = 0;
    std::string buffer_;
};

// Throws ArgumentError if `out_path` names the same file as `in_path`: a tool that reads
// one model and writes another must never replace its input.
void require_distinct_output(const std::string& in_path, const std::string& out_path);

}  // namespace edgelm
