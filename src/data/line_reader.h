// Reads a text file line by line in 1 MiB chunks, so corpora of any size stream through
// a bounded buffer. Lines are returned without their '\n' (a '\r' before it is kept: the
// formats decide what it means); a leading UTF-8 byte order mark is dropped.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace edgelm::data {

class LineReader {
  public:
    // A line longer than max_line_bytes is a FormatError (a file without line breaks
    // would otherwise be read whole). Throws IoError when the file cannot be opened.
    explicit LineReader(const std::string& path, size_t max_line_bytes = size_t{256} << 20);

    // The next line, valid until the next call; false at the end of the file.
    bool next(std::string_view& line);

    const std::string& path() const { return path_; }
    uint64_t line_number() const { return line_number_; }  // 1-based, of the last line
    uint64_t bytes_read() const { return bytes_read_; }    // consumed through the last line

  private:
    bool fill();  // reads one more chunk; false at end of file

    std::string path_;
    size_t max_line_bytes_;
    std::unique_ptr<FILE, int (*)(FILE*)> file_;
    std::string buffer_;
    size_t pos_ = 0;
    bool eof_ = false;
    uint64_t line_number_ = 0, bytes_read_ = 0;
};

}  // namespace edgelm::data
