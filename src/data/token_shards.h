// Token shards: the training data `edgelm data prepare` writes and the trainer reads.
//
// A shard set is a directory:
//   meta.json                   ShardSetMeta below (vocabulary, tokenizer, counts, sources)
//   train-00000.tok, ...        the training split, in order
//   val-00000.tok, ...          the validation split
// Each split is the concatenation of its shard files: every document encoded with BOS in
// front (no EOS), documents one after another. A shard file is a 32-byte little-endian
// header then the tokens:
//   0  8 bytes  magic "ELMTOKS1"
//   8  u32      version = 1
//   12 u32      token width in bytes: 2 when vocab_size <= 65536, else 4
//   16 u64      n_tokens
//   24 u64      n_bytes: UTF-8 bytes of the text its documents encode (for bits per byte)
//   32          n_tokens little-endian unsigned integers of the token width
// A document never spans two shards; a shard is closed when the next document would take
// it past max_shard_tokens (so only a single document longer than that makes a longer
// shard). docs/formats.md has the details.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace edgelm {
class MappedFile;
}

namespace edgelm::data {

constexpr char kShardMagic[8] = {'E', 'L', 'M', 'T', 'O', 'K', 'S', '1'};
constexpr uint32_t kShardVersion = 1;
constexpr size_t kShardHeaderBytes = 32;
constexpr uint64_t kDefaultMaxShardTokens = uint64_t{64} << 20;

// 2 when every id of the vocabulary fits in 16 bits, else 4.
int token_width_for_vocab(int32_t vocab_size);
// "train-00000.tok"
std::string shard_file_name(const std::string& split, uint32_t index);

// One split ("train" or "val") of a directory written by `edgelm data prepare`:
// the concatenation of its shard files, read through mmap.
class TokenSplit {
  public:
    // Throws FormatError/IoError naming the file (meta.json or a shard): a missing or
    // truncated shard, a bad header, counts that disagree with meta.json.
    static TokenSplit open(const std::string& dir, const std::string& split);
    uint64_t size() const { return size_; }    // tokens
    uint64_t bytes() const { return bytes_; }  // UTF-8 bytes of the source text
    uint64_t documents() const { return documents_; }
    // Copies tokens [pos, pos+n) into out (crossing shard boundaries); throws
    // ArgumentError if out of range, FormatError if a stored token is not below vocab_size.
    void read(uint64_t pos, size_t n, int32_t* out) const;

  private:
    struct Shard {
        std::shared_ptr<const MappedFile> file;
        const uint8_t* tokens = nullptr;
        uint64_t first = 0, n_tokens = 0;  // first: position of its first token in the split
        int width = 2;
    };
    TokenSplit() = default;

    std::vector<Shard> shards_;
    uint64_t size_ = 0, bytes_ = 0, documents_ = 0;
    int32_t vocab_size_ = 0;
};

struct ShardSetInfo {  // meta.json
    int32_t vocab_size;
    int32_t bos;
    int32_t eos;
    std::string tokenizer;         // path of tok.model as given (absolute)
    std::string tokenizer_sha256;  // of the tok.model file
    uint64_t train_tokens, val_tokens, train_bytes, val_bytes, train_documents, val_documents,
        duplicates_dropped;
};
ShardSetInfo read_shard_set_info(const std::string& dir);

// Everything meta.json holds: ShardSetInfo, the shard layout, and how the set was made.
struct ShardSetMeta {
    ShardSetInfo info{};
    int token_width = 2;
    uint32_t train_shards = 0, val_shards = 0;
    uint64_t max_shard_tokens = kDefaultMaxShardTokens;
    std::string input_format;                               // "txt", "jsonl:text", ...
    std::vector<std::pair<std::string, uint64_t>> sources;  // input files and their sizes
    uint64_t val_every = 0;                                 // > 0: the --val-every rule
    double val_fraction = 0;                                // else the --val-fraction one
    uint64_t documents_read = 0, empty_documents_dropped = 0, documents_cut = 0;
};
void write_shard_set_meta(const std::string& dir, const ShardSetMeta& meta);  // atomic
ShardSetMeta read_shard_set_meta(const std::string& dir);

// Writes one split as numbered shard files in `dir`.
class TokenShardWriter {
  public:
    TokenShardWriter(std::string dir, std::string split, int32_t vocab_size,
                     uint64_t max_shard_tokens = kDefaultMaxShardTokens);
    ~TokenShardWriter();
    TokenShardWriter(const TokenShardWriter&) = delete;
    TokenShardWriter& operator=(const TokenShardWriter&) = delete;

    // One document's tokens (BOS included) and the bytes of its text. Throws ArgumentError
    // for a token outside the vocabulary.
    void add_document(std::span<const TokenId> tokens, uint64_t text_bytes);
    // Completes the last shard (the split has at least one, maybe empty, shard file).
    void finish();

    uint64_t tokens() const { return tokens_; }
    uint64_t bytes() const { return bytes_; }
    uint64_t documents() const { return documents_; }
    uint32_t shards() const { return shards_; }

  private:
    void open_shard();
    void close_shard();
    void flush();

    std::string dir_, split_;
    int32_t vocab_size_;
    int width_;
    uint64_t max_shard_tokens_;
    int fd_ = -1;
    std::string path_;
    std::string buffer_;
    uint64_t shard_tokens_ = 0, shard_bytes_ = 0;
    uint64_t tokens_ = 0, bytes_ = 0, documents_ = 0;
    uint32_t shards_ = 0;
};

}  // namespace edgelm::data
