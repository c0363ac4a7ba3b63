#include "data/spm_training.h"

#include <sentencepiece_trainer.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "data/input_files.h"
#include "data/line_reader.h"

namespace edgelm::data {

namespace {

namespace fs = std::filesystem;

constexpr int kByteTokens = 256;
constexpr int kReservedTokens = 3;  // <unk> <s> </s>

// Feeds sentencepiece the non-empty lines of every input file, streamed, so directories
// and any number of files work without concatenating them first.
class LineIterator : public sentencepiece::SentenceIterator {
  public:
    explicit LineIterator(std::vector<InputFile> files) : files_(std::move(files)) { Next(); }

    bool done() const override { return done_; }
    const std::string& value() const override { return value_; }
    sentencepiece::util::Status status() const override { return status_; }

    void Next() override {
        try {
            std::string_view line;
            for (;;) {
                if (!reader_) {
                    if (file_ == files_.size()) {
                        done_ = true;
                        return;
                    }
                    reader_ = std::make_unique<LineReader>(files_[file_++].path);
                }
                if (!reader_->next(line)) {
                    reader_.reset();
                    continue;
                }
                if (line.ends_with('\r')) line.remove_suffix(1);
                if (line.empty()) continue;
                value_.assign(line);
                ++sentences_;
                return;
            }
        } catch (const Error& e) {
            // Errors cannot cross sentencepiece's C++ code as exceptions safely; report them
            // through the status it checks after the loop.
            status_ =
                sentencepiece::util::Status(sentencepiece::util::StatusCode::kInternal, e.what());
            done_ = true;
        }
    }

    uint64_t sentences() const { return sentences_; }

  private:
    std::vector<InputFile> files_;
    size_t file_ = 0;
    std::unique_ptr<LineReader> reader_;
    std::string value_;
    bool done_ = false;
    uint64_t sentences_ = 0;
    sentencepiece::util::Status status_;
};

void check_special_tokens(const std::vector<std::string>& specials) {
    std::set<std::string> seen;
    for (const std::string& s : specials) {
        if (s.empty()) throw ArgumentError("tokenizer train: an empty special token");
        if (s.find(',') != std::string::npos)
            throw ArgumentError("tokenizer train: special token '" + s +
                                "' holds a comma (sentencepiece takes them as a comma list)");
        if (s == "<unk>" || s == "<s>" || s == "</s>")
            throw ArgumentError("tokenizer train: special token '" + s +
                                "' is already in the vocabulary (ids 0-2)");
        if (s.size() == 6 && s.starts_with("<0x") && s.ends_with('>'))
            throw ArgumentError("tokenizer train: special token '" + s +
                                "' would clash with the byte tokens <0x00>..<0xFF>");
        if (!seen.insert(s).second)
            throw ArgumentError("tokenizer train: special token '" + s + "' given twice");
    }
}

// A temporary directory removed on every exit path.
class TempDir {
  public:
    explicit TempDir(const fs::path& near) {
        std::string tmpl = (near / ".edgelm-spm-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw IoError(near.string() +
                          ": cannot make a temporary directory: " + std::strerror(errno));
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

}  // namespace

void train_spm_tokenizer(const SpmTrainOptions& o) {
    check_special_tokens(o.special_tokens);
    const int minimum = kReservedTokens + kByteTokens + static_cast<int>(o.special_tokens.size());
    if (o.vocab_size <= minimum)
        throw ArgumentError("tokenizer train: --vocab-size " + std::to_string(o.vocab_size) +
                            " leaves no room for learned pieces: it must be above " +
                            std::to_string(minimum) + " (3 reserved + 256 byte tokens + " +
                            std::to_string(o.special_tokens.size()) + " special)");
    if (o.threads < 1) throw ArgumentError("tokenizer train: --threads must be >= 1");
    if (o.output.empty()) throw ArgumentError("tokenizer train: no output file; pass -o FILE");
    LineIterator lines(expand_inputs(o.inputs, "tokenizer train"));

    // Train into a temporary directory beside the output (same file system), then write
    // the output atomically: a failed run never leaves a partial .model behind.
    fs::path out_dir = fs::path(o.output).parent_path();
    if (out_dir.empty()) out_dir = ".";
    if (!fs::is_directory(out_dir))
        throw ArgumentError("tokenizer train: the output directory '" + out_dir.string() +
                            "' does not exist");
    const TempDir tmp(out_dir);

    std::string user_defined;
    for (const std::string& s : o.special_tokens)
        user_defined += (user_defined.empty() ? "" : ",") + s;
    const std::unordered_map<std::string, std::string> args = {
        {"model_prefix", (tmp.path() / "tok").string()},
        {"model_type", "bpe"},
        {"vocab_size", std::to_string(o.vocab_size)},
        {"byte_fallback", "true"},
        {"normalization_rule_name", "identity"},
        {"remove_extra_whitespaces", "false"},
        {"add_dummy_prefix", "true"},
        {"split_digits", "true"},
        {"user_defined_symbols", user_defined},
        {"unk_id", "0"},
        {"bos_id", "1"},
        {"eos_id", "2"},
        {"pad_id", "-1"},
        {"input_sentence_size", std::to_string(o.max_sentences)},
        {"shuffle_input_sentence", "true"},
        {"num_threads", std::to_string(o.threads)},
        {"minloglevel", o.verbose ? "0" : "2"},
    };
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines);
    if (!status.ok()) {
        if (lines.sentences() == 0 && lines.status().ok())
            throw ArgumentError("tokenizer train: the inputs hold no text (no non-empty lines)");
        // Its messages start with the failed check ("./src/trainer_interface.cc(660)
        // [(a) == (b)] Vocabulary size too high ..."): keep the sentence after it.
        std::string message = status.message();
        const size_t check_end = message.find("] ");
        if (message.starts_with("./") && check_end != std::string::npos)
            message.erase(0, check_end + 2);
        throw Error("tokenizer train: sentencepiece: " + message);
    }

    const std::string model = read_text_file((tmp.path() / "tok.model").string());
    AtomicFileWriter out(o.output);
    out.write(model.data(), model.size());
    out.commit();
}

}  // namespace edgelm::data
