#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace edgelm {

namespace {
constexpr size_t kBufferSize = 1 << 20;
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
    tmp_path_ = path + ".tmp." + std::to_string(::getpid());
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(path + ": cannot create: " + std::strerror(errno));
    buffer_.reserve(kBufferSize);
}

AtomicFileWriter::~AtomicFileWriter() {
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(tmp_path_.c_str());
    }
}

void AtomicFileWriter::flush_buffer() {
    const char* p = buffer_.data();
    size_t left = buffer_.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw IoError(path_ + ": write failed: " + std::strerror(errno));
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    buffer_.clear();
}

void AtomicFileWriter::write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    written_ += n;
    if (buffer_.size() + n > kBufferSize) flush_buffer();
    if (n >= kBufferSize) {
        buffer_.assign(p, n);
        flush_buffer();
        return;
    }
    buffer_.append(p, n);
}

void AtomicFileWriter::write_zeros(size_t n) {
    static const char zeros[64] = {};
    while (n > 0) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        write(zeros, k);
        n -= k;
    }
}

void AtomicFileWriter::commit() {
    flush_buffer();
    if (::fsync(fd_) != 0) throw IoError(path_ + ": fsync failed: " + std::strerror(errno));
    if (::close(fd_) != 0) {
        fd_ = -1;
        ::unlink(tmp_path_.c_str());
        throw IoError(path_ + ": close failed: " + std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp_path_.c_str());
        throw IoError(path_ + ": rename failed: " + std::strerror(e));
    }
    std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void require_distinct_output(const std::string& in_path, const std::string& out_path) {
    if (std::filesystem::exists(out_path) && std::filesystem::exists(in_path) &&
        std::filesystem::equivalent(in_path, out_path))
        throw ArgumentError("output " + out_path + " is the input file; write to a new file");
}

}  // namespace edgelm
