#include "data/token_shards.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace edgelm::data {

static_assert(std::endian::native == std::endian::little,
              "token shards are little-endian and read in place");

namespace {

namespace fs = std::filesystem;

constexpr const char* kMetaFile = "meta.json";
constexpr const char* kMetaFormat = "edgelm token shards";

std::string path_in(const std::string& dir, const std::string& name) {
    return (fs::path(dir) / name).string();
}

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

uint64_t load_u64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

void check_split_name(const std::string& split) {
    if (split != "train" && split != "val")
        throw ArgumentError("token shards: unknown split '" + split + "' (train or val)");
}

// Writes all of [p, p+n) at `offset` (or at the file position when offset < 0).
void write_all(int fd, const std::string& path, const char* p, size_t n, off_t offset = -1) {
    while (n > 0) {
        const ssize_t k = offset < 0 ? ::write(fd, p, n) : ::pwrite(fd, p, n, offset);
        if (k < 0) {
            if (errno == EINTR) continue;
            throw IoError(path + ": write failed: " + std::strerror(errno));
        }
        p += k;
        n -= static_cast<size_t>(k);
        if (offset >= 0) offset += k;
    }
}

}  // namespace

int token_width_for_vocab(int32_t vocab_size) {
    return vocab_size <= 65536 ? 2 : 4;
}

std::string shard_file_name(const std::string& split, uint32_t index) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%05u.tok", index);
    return split + buf;
}

// ---------------------------------------------------------------- meta.json

void write_shard_set_meta(const std::string& dir, const ShardSetMeta& m) {
    const ShardSetInfo& i = m.info;
    nlohmann::json j = {
        {"format", kMetaFormat},
        {"version", kShardVersion},
        {"vocab_size", i.vocab_size},
        {"bos", i.bos},
        {"eos", i.eos},
        {"token_width", m.token_width},
        {"tokenizer", i.tokenizer},
        {"tokenizer_sha256", i.tokenizer_sha256},
        {"train_tokens", i.train_tokens},
        {"train_bytes", i.train_bytes},
        {"train_documents", i.train_documents},
        {"train_shards", m.train_shards},
        {"val_tokens", i.val_tokens},
        {"val_bytes", i.val_bytes},
        {"val_documents", i.val_documents},
        {"val_shards", m.val_shards},
        {"duplicates_dropped", i.duplicates_dropped},
        {"empty_documents_dropped", m.empty_documents_dropped},
        {"documents_read", m.documents_read},
        {"documents_cut", m.documents_cut},
        {"max_shard_tokens", m.max_shard_tokens},
        {"input_format", m.input_format},
    };
    if (m.val_every > 0) {
        j["val_split"] = {{"every", m.val_every}};
    } else {
        j["val_split"] = {{"fraction", m.val_fraction}};
    }
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& [path, size] : m.sources) sources.push_back({{"path", path}, {"bytes", size}});
    j["sources"] = sources;
    const std::string text = j.dump(2) + "\n";
    AtomicFileWriter out(path_in(dir, kMetaFile));
    out.write(text.data(), text.size());
    out.commit();
}

ShardSetMeta read_shard_set_meta(const std::string& dir) {
    const std::string path = path_in(dir, kMetaFile);
    if (!fs::exists(path))
        throw IoError(path + ": missing; is " + dir +
                      " a directory written by `edgelm data prepare`?");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_text_file(path));
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(path + ": malformed JSON: " + e.what());
    }
    const auto format = j.is_object() ? j.find("format") : j.end();
    if (format == j.end() || !format->is_string() || *format != kMetaFormat)
        throw FormatError(path + ": not an edgelm token shard set (\"format\" is not \"" +
                          kMetaFormat + "\")");
    auto get = [&](const char* key, auto& out) {
        const auto it = j.find(key);
        if (it == j.end()) throw FormatError(path + ": missing key \"" + key + "\"");
        try {
            it->get_to(out);
        } catch (const nlohmann::json::exception&) {
            throw FormatError(path + ": key \"" + key + "\" has the wrong type (" +
                              it->type_name() + ")");
        }
    };
    uint32_t version = 0;
    get("version", version);
    if (version != kShardVersion)
        throw FormatError(path + ": version " + std::to_string(version) + ", expected " +
                          std::to_string(kShardVersion) + " (made by another edgelm version?)");
    ShardSetMeta m;
    ShardSetInfo& i = m.info;
    get("vocab_size", i.vocab_size);
    get("bos", i.bos);
    get("eos", i.eos);
    get("tokenizer", i.tokenizer);
    get("tokenizer_sha256", i.tokenizer_sha256);
    get("train_tokens", i.train_tokens);
    get("train_bytes", i.train_bytes);
    get("train_documents", i.train_documents);
    get("val_tokens", i.val_tokens);
    get("val_bytes", i.val_bytes);
    get("val_documents", i.val_documents);
    get("duplicates_dropped", i.duplicates_dropped);
    get("token_width", m.token_width);
    get("train_shards", m.train_shards);
    get("val_shards", m.val_shards);
    if (i.vocab_size <= 0) throw FormatError(path + ": vocab_size must be positive");
    if (m.token_width != token_width_for_vocab(i.vocab_size))
        throw FormatError(path + ": token_width " + std::to_string(m.token_width) +
                          " does not match vocab_size " + std::to_string(i.vocab_size));
    // How the set was made: informative, so optional (but of the right type).
    try {
        m.max_shard_tokens = j.value("max_shard_tokens", uint64_t{0});
        m.input_format = j.value("input_format", "");
        m.documents_read = j.value("documents_read", uint64_t{0});
        m.empty_documents_dropped = j.value("empty_documents_dropped", uint64_t{0});
        m.documents_cut = j.value("documents_cut", uint64_t{0});
        if (j.contains("val_split") && j["val_split"].is_object()) {
            m.val_every = j["val_split"].value("every", uint64_t{0});
            m.val_fraction = j["val_split"].value("fraction", 0.0);
        }
        if (j.contains("sources") && j["sources"].is_array())
            for (const auto& s : j["sources"])
                if (s.is_object())
                    m.sources.emplace_back(s.value("path", ""), s.value("bytes", uint64_t{0}));
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(path + ": " + e.what());
    }
    return m;
}

ShardSetInfo read_shard_set_info(const std::string& dir) {
    return read_shard_set_meta(dir).info;
}

// ---------------------------------------------------------------- reading

TokenSplit TokenSplit::open(const std::string& dir, const std::string& split) {
    check_split_name(split);
    const ShardSetMeta meta = read_shard_set_meta(dir);
    const bool train = split == "train";
    const uint32_t n_shards = train ? meta.train_shards : meta.val_shards;
    const uint64_t want_tokens = train ? meta.info.train_tokens : meta.info.val_tokens;
    const uint64_t want_bytes = train ? meta.info.train_bytes : meta.info.val_bytes;
    const std::string meta_path = path_in(dir, kMetaFile);
    if (n_shards == 0) throw FormatError(meta_path + ": " + split + "_shards is 0");

    TokenSplit s;
    s.vocab_size_ = meta.info.vocab_size;
    s.documents_ = train ? meta.info.train_documents : meta.info.val_documents;
    for (uint32_t k = 0; k < n_shards; ++k) {
        const std::string path = path_in(dir, shard_file_name(split, k));
        if (!fs::exists(path))
            throw IoError(path + ": missing (" + meta_path + " lists " + std::to_string(n_shards) +
                          " " + split + " shards)");
        auto file = std::make_shared<const MappedFile>(path);
        auto bad = [&](const std::string& what) {
            return FormatError(path + ": invalid token shard: " + what);
        };
        if (file->size() < kShardHeaderBytes)
            throw bad("the file has " + std::to_string(file->size()) + " bytes, less than the " +
                      std::to_string(kShardHeaderBytes) + "-byte header");
        const uint8_t* h = file->data();
        if (std::memcmp(h, kShardMagic, sizeof kShardMagic) != 0)
            throw bad("bad magic (expected \"ELMTOKS1\")");
        const uint32_t version = load_u32(h + 8), width = load_u32(h + 12);
        const uint64_t n_tokens = load_u64(h + 16), n_bytes = load_u64(h + 24);
        if (version != kShardVersion)
            throw bad("version " + std::to_string(version) + ", expected " +
                      std::to_string(kShardVersion));
        if (width != static_cast<uint32_t>(meta.token_width))
            throw bad("token width " + std::to_string(width) + ", meta.json says " +
                      std::to_string(meta.token_width));
        const uint64_t payload = file->size() - kShardHeaderBytes;
        if (n_tokens > payload / width || n_tokens * width != payload)
            throw bad("the header says " + std::to_string(n_tokens) + " tokens of " +
                      std::to_string(width) + " bytes but the file holds " +
                      std::to_string(payload) + " bytes after the header (truncated?)");
        Shard shard;
        shard.tokens = h + kShardHeaderBytes;
        shard.first = s.size_;
        shard.n_tokens = n_tokens;
        shard.width = static_cast<int>(width);
        shard.file = std::move(file);
        s.shards_.push_back(std::move(shard));
        s.size_ += n_tokens;
        s.bytes_ += n_bytes;
    }
    if (s.size_ != want_tokens || s.bytes_ != want_bytes)
        throw FormatError(meta_path + ": the " + split + " shards hold " + std::to_string(s.size_) +
                          " tokens and " + std::to_string(s.bytes_) + " bytes, meta.json says " +
                          std::to_string(want_tokens) + " and " + std::to_string(want_bytes));
    return s;
}

void TokenSplit::read(uint64_t pos, size_t n, int32_t* out) const {
    if (pos > size_ || n > size_ - pos)
        throw ArgumentError("token split: read of " + std::to_string(n) + " tokens at " +
                            std::to_string(pos) + " is past the end (" + std::to_string(size_) +
                            " tokens)");
    // The shard holding `pos`: the last one starting at or before it.
    size_t k = static_cast<size_t>(
        std::upper_bound(shards_.begin(), shards_.end(), pos,
                         [](uint64_t p, const Shard& s) { return p < s.first; }) -
        shards_.begin());
    for (--k; n > 0; ++k) {
        const Shard& s = shards_[k];
        const uint64_t offset = pos - s.first;
        const size_t m = static_cast<size_t>(std::min<uint64_t>(n, s.n_tokens - offset));
        if (s.width == 2) {
            const uint8_t* p = s.tokens + offset * 2;
            for (size_t i = 0; i < m; ++i)
                out[i] = static_cast<int32_t>(uint32_t{p[2 * i]} | (uint32_t{p[2 * i + 1]} << 8));
        } else {
            std::memcpy(out, s.tokens + offset * 4, m * 4);
        }
        for (size_t i = 0; i < m; ++i)
            if (out[i] < 0 || out[i] >= vocab_size_)
                throw FormatError(s.file->path() + ": token " + std::to_string(offset + i) +
                                  " is " + std::to_string(out[i]) + ", outside the vocabulary of " +
                                  std::to_string(vocab_size_));
        out += m;
        pos += m;
        n -= m;
    }
}

// ---------------------------------------------------------------- writing

TokenShardWriter::TokenShardWriter(std::string dir, std::string split, int32_t vocab_size,
                                   uint64_t max_shard_tokens)
    : dir_(std::move(dir)),
      split_(std::move(split)),
      vocab_size_(vocab_size),
      width_(token_width_for_vocab(vocab_size)),
      max_shard_tokens_(max_shard_tokens) {
    check_split_name(split_);
    if (max_shard_tokens_ == 0) throw ArgumentError("token shards: max_shard_tokens must be > 0");
}

TokenShardWriter::~TokenShardWriter() {
    if (fd_ >= 0) ::close(fd_);  // an unfinished set: the caller discards the directory
}

void TokenShardWriter::open_shard() {
    path_ = path_in(dir_, shard_file_name(split_, shards_));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(path_ + ": cannot create: " + std::strerror(errno));
    ++shards_;
    shard_tokens_ = shard_bytes_ = 0;
    buffer_.assign(kShardHeaderBytes, '\0');  // the real header is written on close
}

void TokenShardWriter::flush() {
    write_all(fd_, path_, buffer_.data(), buffer_.size());
    buffer_.clear();
}

void TokenShardWriter::close_shard() {
    flush();
    char header[kShardHeaderBytes];
    const uint32_t version = kShardVersion, width = static_cast<uint32_t>(width_);
    std::memcpy(header, kShardMagic, 8);
    std::memcpy(header + 8, &version, 4);
    std::memcpy(header + 12, &width, 4);
    std::memcpy(header + 16, &shard_tokens_, 8);
    std::memcpy(header + 24, &shard_bytes_, 8);
    write_all(fd_, path_, header, sizeof header, 0);
    if (::fsync(fd_) != 0) throw IoError(path_ + ": fsync failed: " + std::strerror(errno));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw IoError(path_ + ": close failed: " + std::strerror(errno));
}

void TokenShardWriter::add_document(std::span<const TokenId> tokens, uint64_t text_bytes) {
    if (fd_ >= 0 && shard_tokens_ > 0 && shard_tokens_ + tokens.size() > max_shard_tokens_)
        close_shard();
    if (fd_ < 0) open_shard();
    for (const TokenId t : tokens) {
        if (t < 0 || t >= vocab_size_)
            throw ArgumentError("token shards: token " + std::to_string(t) +
                                " outside the vocabulary of " + std::to_string(vocab_size_));
        const auto u = static_cast<uint32_t>(t);
        buffer_ += static_cast<char>(u & 0xFF);
        buffer_ += static_cast<char>((u >> 8) & 0xFF);
        if (width_ == 4) {
            buffer_ += static_cast<char>((u >> 16) & 0xFF);
            buffer_ += static_cast<char>(u >> 24);
        }
    }
    if (buffer_.size() >= (size_t{1} << 20)) flush();
    shard_tokens_ += tokens.size();
    shard_bytes_ += text_bytes;
    tokens_ += tokens.size();
    bytes_ += text_bytes;
    ++documents_;
}

void TokenShardWriter::finish() {
    if (fd_ < 0 && shards_ == 0) open_shard();  // an empty split still has its shard file
    if (fd_ >= 0) close_shard();
}

}  // namespace edgelm::data
