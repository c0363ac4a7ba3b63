#include "data/data_prepare.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <unordered_set>

#include "core/error.h"
#include "core/thread_pool.h"
#include "data/document_reader.h"
#include "data/input_files.h"
#include "data/sha256.h"
#include "data/spm_vocabulary.h"

namespace edgelm::data {

namespace {

namespace fs = std::filesystem;

// Documents are encoded in batches of about this much text: enough to keep the threads
// busy, little enough that memory stays bounded whatever the corpus size.
constexpr size_t kBatchBytes = size_t{4} << 20;
constexpr size_t kBatchDocuments = 8192;

struct Hash128 {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Hash128&) const = default;
};

struct Hash128Hasher {
    size_t operator()(const Hash128& h) const noexcept { return static_cast<size_t>(h.lo); }
};

Hash128 document_hash(std::string_view text) {
    const Sha256Digest d = sha256(text);
    Hash128 h;
    for (int i = 0; i < 8; ++i) {
        h.hi = (h.hi << 8) | d[static_cast<size_t>(i)];
        h.lo = (h.lo << 8) | d[static_cast<size_t>(i + 8)];
    }
    return h;
}

// The hash as a number in [0, 1): its top 53 bits.
double unit_interval(const Hash128& h) {
    return static_cast<double>(h.hi >> 11) * 0x1.0p-53;
}

void fsync_dir(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// The output directory as an absolute path without a trailing separator.
fs::path output_path(const std::string& given) {
    fs::path out = fs::absolute(given).lexically_normal();
    if (out.filename().empty()) out = out.parent_path();
    return out;
}

void check_output_free(const fs::path& out, const std::string& given) {
    std::error_code ec;
    if (!fs::exists(out, ec)) return;
    if (!fs::is_directory(out, ec))
        throw ArgumentError("data prepare: the output '" + given +
                            "' exists and is not a directory");
    if (!fs::is_empty(out, ec))
        throw ArgumentError("data prepare: the output directory '" + given +
                            "' is not empty; remove it or choose another -o");
}

// Removes the temporary output directory unless the run completed.
class TempDirGuard {
  public:
    explicit TempDirGuard(fs::path p) : path_(std::move(p)) {}
    ~TempDirGuard() {
        if (!path_.empty()) {
            std::error_code ec;
            fs::remove_all(path_, ec);
        }
    }
    TempDirGuard(const TempDirGuard&) = delete;
    TempDirGuard& operator=(const TempDirGuard&) = delete;
    void release() { path_.clear(); }

  private:
    fs::path path_;
};

struct Batch {
    std::vector<Document> docs;
    std::vector<std::vector<TokenId>> ids;
    std::vector<Hash128> hashes;
    size_t bytes = 0;

    void clear() {
        docs.clear();
        bytes = 0;
    }
};

}  // namespace

PrepareReport prepare_token_shards(const PrepareOptions& o) {
    const auto start = std::chrono::steady_clock::now();
    DocumentFormat format;
    try {
        format = DocumentFormat::parse(o.format);
    } catch (const ArgumentError& e) {
        throw ArgumentError(std::string("data prepare: ") + e.what());
    }
    if (o.val_every == 1)
        throw ArgumentError(
            "data prepare: --val-every 1 would hold out every document; use 2 or more");
    if (o.val_every == 0 && !(o.val_fraction > 0 && o.val_fraction < 1))
        throw ArgumentError("data prepare: --val-fraction " + std::to_string(o.val_fraction) +
                            " is outside (0, 1)");
    if (o.threads < 1) throw ArgumentError("data prepare: --threads must be >= 1");
    if (o.max_shard_tokens == 0) throw ArgumentError("data prepare: --shard-tokens must be >= 1");
    if (o.output.empty()) throw ArgumentError("data prepare: no output directory; pass -o DIR");

    const std::vector<InputFile> files = expand_inputs(o.inputs, "data prepare");
    if (o.tokenizer.empty() || !fs::is_regular_file(o.tokenizer))
        throw ArgumentError("data prepare: tokenizer '" + o.tokenizer +
                            "' does not exist; make one with `edgelm tokenizer train`");
    const Vocabulary vocab = load_spm_vocabulary(o.tokenizer);
    if (vocab.bos < 0) throw FormatError(o.tokenizer + ": the tokenizer has no BOS token");
    const std::unique_ptr<Tokenizer> tokenizer = make_spm_tokenizer(vocab);
    const auto vocab_size = static_cast<int32_t>(vocab.tokens.size());

    const fs::path out = output_path(o.output);
    check_output_free(out, o.output);
    const fs::path parent = out.parent_path();
    if (!fs::is_directory(parent))
        throw ArgumentError("data prepare: the parent directory of the output, '" +
                            parent.string() + "', does not exist");
    // A unique hidden sibling of the output (same file system, so the final rename is
    // atomic). Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "." + std::string.
    std::string tmpl = out.filename().string();
    tmpl.insert(0, 1, '.');
    tmpl = (parent / (tmpl + ".tmp-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw IoError(tmpl + ": cannot create a temporary directory: " + std::strerror(errno));
    const fs::path tmp = tmpl;
    TempDirGuard guard(tmp);
    std::error_code ec;
    // mkdtemp makes it private (0700); the output is an ordinary directory.
    fs::permissions(tmp,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);

    ShardSetMeta meta;
    ShardSetInfo& info = meta.info;
    info.vocab_size = vocab_size;
    info.bos = vocab.bos;
    info.eos = vocab.eos;
    info.tokenizer = fs::absolute(o.tokenizer).lexically_normal().string();
    info.tokenizer_sha256 = sha256_file_hex(o.tokenizer);
    meta.token_width = token_width_for_vocab(vocab_size);
    meta.max_shard_tokens = o.max_shard_tokens;
    meta.input_format = format.name();
    meta.val_every = o.val_every;
    meta.val_fraction = o.val_every > 0 ? 0.0 : o.val_fraction;

    PrepareReport report;
    for (const InputFile& f : files) {
        meta.sources.emplace_back(f.path, f.size);
        report.input_bytes += f.size;
    }

    TokenShardWriter train(tmp.string(), "train", vocab_size, o.max_shard_tokens);
    TokenShardWriter val(tmp.string(), "val", vocab_size, o.max_shard_tokens);
    std::unordered_set<Hash128, Hash128Hasher> seen;
    std::unique_ptr<ThreadPool> pool;
    if (o.threads > 1) pool = std::make_unique<ThreadPool>(o.threads);
    uint64_t kept = 0, bytes_done = 0;
    Batch batch;

    auto encode_one = [&](size_t i) {
        batch.ids[i] = tokenizer->encode(batch.docs[i].text, /*add_bos=*/true);
        batch.hashes[i] = document_hash(batch.docs[i].text);
    };
    auto process_batch = [&] {
        const size_t n = batch.docs.size();
        if (batch.ids.size() < n) batch.ids.resize(n);
        if (batch.hashes.size() < n) batch.hashes.resize(n);
        if (pool) {
            // Documents differ a lot in length: threads take the next one as they finish.
            std::atomic<size_t> next{0};
            pool->run_on_all([&](int, int) {
                for (size_t i; (i = next.fetch_add(1)) < n;) encode_one(i);
            });
        } else {
            for (size_t i = 0; i < n; ++i) encode_one(i);
        }
        // In input order, so the output does not depend on the thread count.
        for (size_t i = 0; i < n; ++i) {
            const Document& doc = batch.docs[i];
            ++meta.documents_read;
            if (doc.text.empty()) {
                ++meta.empty_documents_dropped;
                continue;
            }
            if (!seen.insert(batch.hashes[i]).second) {
                ++info.duplicates_dropped;
                continue;
            }
            const bool held_out = o.val_every > 0 ? kept % o.val_every == o.val_every - 1
                                                  : unit_interval(batch.hashes[i]) < o.val_fraction;
            ++kept;
            (held_out ? val : train).add_document(batch.ids[i], doc.text.size());
        }
        batch.clear();
    };

    for (const InputFile& f : files) {
        DocumentReader reader(f.path, format, o.max_document_bytes);
        for (;;) {
            batch.docs.emplace_back();
            if (!reader.next(batch.docs.back())) {
                batch.docs.pop_back();
                break;
            }
            batch.bytes += batch.docs.back().text.size();
            if (batch.bytes >= kBatchBytes || batch.docs.size() >= kBatchDocuments) {
                process_batch();
                if (o.progress)
                    o.progress({bytes_done + reader.bytes_read(), report.input_bytes,
                                train.documents() + val.documents(),
                                train.tokens() + val.tokens()});
            }
        }
        meta.documents_cut += reader.documents_cut();
        bytes_done += f.size;
    }
    process_batch();
    train.finish();
    val.finish();
    if (o.progress)
        o.progress({report.input_bytes, report.input_bytes, train.documents() + val.documents(),
                    train.tokens() + val.tokens()});

    info.train_tokens = train.tokens();
    info.train_bytes = train.bytes();
    info.train_documents = train.documents();
    info.val_tokens = val.tokens();
    info.val_bytes = val.bytes();
    info.val_documents = val.documents();
    meta.train_shards = train.shards();
    meta.val_shards = val.shards();
    write_shard_set_meta(tmp.string(), meta);
    fsync_dir(tmp);

    check_output_free(out, o.output);  // again: something may have appeared meanwhile
    fs::rename(tmp, out, ec);          // replaces an empty directory
    if (ec)
        throw IoError(out.string() + ": cannot rename " + tmp.string() + " to it: " + ec.message());
    guard.release();
    fsync_dir(parent);

    report.meta = std::move(meta);
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

}  // namespace edgelm::data
