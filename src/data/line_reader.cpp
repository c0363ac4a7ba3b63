#include "data/line_reader.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace edgelm::data {

namespace {
constexpr size_t kChunk = size_t{1} << 20;
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
}  // namespace

LineReader::LineReader(const std::string& path, size_t max_line_bytes)
    : path_(path),
      max_line_bytes_(max_line_bytes),
      file_(std::fopen(path.c_str(), "rb"), &std::fclose) {
    if (!file_) throw IoError(path + ": cannot open: " + std::strerror(errno));
}

bool LineReader::fill() {
    if (eof_) return false;
    if (pos_ > 0) {
        buffer_.erase(0, pos_);
        pos_ = 0;
    }
    const size_t old = buffer_.size();
    buffer_.resize(old + kChunk);
    const size_t n = std::fread(buffer_.data() + old, 1, kChunk, file_.get());
    buffer_.resize(old + n);
    if (n < kChunk) {
        if (std::ferror(file_.get())) throw IoError(path_ + ": read failed");
        eof_ = true;
    }
    return n > 0;
}

bool LineReader::next(std::string_view& line) {
    size_t scanned = pos_;
    auto too_long = [&] {
        return FormatError(path_ + ":" + std::to_string(line_number_ + 1) +
                           ": a line longer than " + std::to_string(max_line_bytes_) +
                           " bytes; is this a text file with line breaks?");
    };
    for (;;) {
        const size_t nl = buffer_.find('\n', scanned);
        if (nl != std::string::npos) {
            if (nl - pos_ > max_line_bytes_) throw too_long();
            line = std::string_view(buffer_).substr(pos_, nl - pos_);
            bytes_read_ += nl + 1 - pos_;
            pos_ = nl + 1;
            break;
        }
        if (buffer_.size() - pos_ > max_line_bytes_) throw too_long();
        // Resume the search where it stopped; fill() moves the unread bytes to offset 0.
        scanned = buffer_.size() - pos_;
        if (!fill()) {
            if (pos_ == buffer_.size()) return false;
            line = std::string_view(buffer_).substr(pos_);  // last line, no '\n'
            bytes_read_ += buffer_.size() - pos_;
            pos_ = buffer_.size();
            break;
        }
    }
    if (++line_number_ == 1 && line.starts_with(kByteOrderMark))
        line.remove_prefix(kByteOrderMark.size());
    return true;
}

}  // namespace edgelm::data
