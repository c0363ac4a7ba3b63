#include "train/teacher_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_reader.h"

namespace edgelm::train {

namespace {

constexpr char kMagic[8] = {'E', 'L', 'M', 'T', 'K', 'C', '0', '2'};

struct Header {
    char magic[8];
    uint64_t teacher;
    int64_t k, rows, tokens, vocab;
    double temperature;
};

void pread_all(int fd, void* dst, uint64_t n, uint64_t at, const std::string& path) {
    auto* p = static_cast<uint8_t*>(dst);
    while (n > 0) {
        const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(at));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw IoError(path + ": read failed: " + std::strerror(errno));
        if (r == 0) {  // past the end: reads as zeros (an absent record)
            std::memset(p, 0, n);
            return;
        }
        p += r;
        at += static_cast<uint64_t>(r);
        n -= static_cast<uint64_t>(r);
    }
}

void pwrite_all(int fd, const void* src, uint64_t n, uint64_t at, const std::string& path) {
    const auto* p = static_cast<const uint8_t*>(src);
    while (n > 0) {
        const ssize_t r = ::pwrite(fd, p, n, static_cast<off_t>(at));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw IoError(path + ": write failed: " + std::strerror(errno));
        p += r;
        at += static_cast<uint64_t>(r);
        n -= static_cast<uint64_t>(r);
    }
}

}  // namespace

uint64_t gguf_fingerprint(const std::string& path) {
    const GgufFile f(path);
    uint64_t h = 1469598103934665603ull;
    const uint64_t header = std::min(f.data_offset(), f.file_size());
    for (uint64_t i = 0; i < header; ++i) {
        h ^= f.raw_bytes()[i];
        h *= 1099511628211ull;
    }
    return h ^ f.file_size();
}

TeacherLogitCache::TeacherLogitCache(const std::string& path, uint64_t teacher_fingerprint,
                                     int64_t k, int64_t rows, int64_t tokens, int64_t vocab,
                                     double temperature)
    : path_(path), k_(k), rows_(rows), tokens_(tokens) {
    if (k < 1 || k > vocab) throw ArgumentError("--teacher-top-k must be in 1..vocabulary size");
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd_ < 0) throw IoError(path + ": cannot open the teacher cache: " + std::strerror(errno));
    // A record: a valid byte (padded to 8), the batch's tokens (i32), per token k indices
    // (i32), then k values (f16), then the log denominators (f32).
    record_bytes_ =
        8 + static_cast<uint64_t>(rows * tokens) * (4 + static_cast<uint64_t>(k) * 6 + 4);
    Header want{};
    std::memcpy(want.magic, kMagic, sizeof kMagic);
    want.teacher = teacher_fingerprint;
    want.k = k;
    want.rows = rows;
    want.tokens = tokens;
    want.vocab = vocab;
    want.temperature = temperature;
    Header have{};
    pread_all(fd_, &have, sizeof have, 0, path);
    const bool empty = std::all_of(reinterpret_cast<const uint8_t*>(&have),
                                   reinterpret_cast<const uint8_t*>(&have) + sizeof have,
                                   [](uint8_t b) { return b == 0; });
    if (empty) {
        pwrite_all(fd_, &want, sizeof want, 0, path);
    } else if (std::memcmp(&have, &want, sizeof want) != 0) {
        ::close(fd_);
        fd_ = -1;
        throw ArgumentError(
            path +
            " caches another teacher, top-k, batch shape, vocabulary or temperature; delete "
            "it or give another --teacher-cache path");
    }
}

TeacherLogitCache::~TeacherLogitCache() {
    if (fd_ >= 0) ::close(fd_);
}

bool TeacherLogitCache::read(int64_t record, const torch::Tensor& batch, torch::Tensor& idx,
                             torch::Tensor& val, torch::Tensor& lse) {
    const uint64_t at = sizeof(Header) + static_cast<uint64_t>(record) * record_bytes_;
    std::vector<uint8_t> buf(record_bytes_);
    pread_all(fd_, buf.data(), buf.size(), at, path_);
    const int64_t n = rows_ * tokens_;
    const torch::Tensor want = batch.to(torch::kInt32).contiguous();
    if (buf[0] != 1 ||
        std::memcmp(buf.data() + 8, want.data_ptr<int32_t>(), static_cast<size_t>(n) * 4) != 0) {
        ++misses;
        return false;
    }
    const uint8_t* p = buf.data() + 8 + n * 4;
    idx = torch::from_blob(const_cast<uint8_t*>(p), {n, k_}, torch::kInt32).to(torch::kInt64);
    val = torch::from_blob(const_cast<uint8_t*>(p + n * k_ * 4), {n, k_}, torch::kHalf)
              .to(torch::kFloat);
    lse = torch::from_blob(const_cast<uint8_t*>(p + n * k_ * 6), {n}, torch::kFloat).clone();
    ++hits;
    return true;
}

void TeacherLogitCache::write(int64_t record, const torch::Tensor& batch, const torch::Tensor& idx,
                              torch::Tensor& val, const torch::Tensor& lse) {
    const uint64_t at = sizeof(Header) + static_cast<uint64_t>(record) * record_bytes_;
    const int64_t n = rows_ * tokens_;
    std::vector<uint8_t> buf(record_bytes_, 0);
    const torch::Tensor t = batch.to(torch::kInt32).contiguous();
    const torch::Tensor i = idx.to(torch::kInt32).contiguous();
    const torch::Tensor v = val.to(torch::kHalf).contiguous();
    std::memcpy(buf.data() + 8, t.data_ptr<int32_t>(), static_cast<size_t>(n) * 4);
    std::memcpy(buf.data() + 8 + n * 4, i.data_ptr<int32_t>(), static_cast<size_t>(n * k_) * 4);
    std::memcpy(buf.data() + 8 + n * 4 + n * k_ * 4, v.data_ptr(), static_cast<size_t>(n * k_) * 2);
    const torch::Tensor l = lse.to(torch::kFloat).contiguous();
    std::memcpy(buf.data() + 8 + n * 4 + n * k_ * 6, l.data_ptr<float>(),
                static_cast<size_t>(n) * 4);
    // Invalid first, then the data, then valid: an interrupted write is never read.
    uint8_t valid = 0;
    pwrite_all(fd_, &valid, 1, at, path_);
    pwrite_all(fd_, buf.data() + 8, buf.size() - 8, at + 8, path_);
    valid = 1;
    pwrite_all(fd_, &valid, 1, at, path_);
    val = v.to(torch::kFloat);  // train on what is stored
}

}  // namespace edgelm::train
