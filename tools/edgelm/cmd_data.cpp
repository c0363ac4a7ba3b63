// edgelm data prepare: a corpus -> token shards for the trainer.
// edgelm data emails: raw RFC 822 messages -> classifier JSONL ({"text", "label"}).
#include <fnmatch.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/split.h"
#include "data/data_prepare.h"
#include "data/email_message.h"
#include "data/input_files.h"

namespace edgelm::cli {

namespace {

struct DataPrepareFlags {
    data::PrepareOptions options;
    std::optional<double> val_fraction;
    std::optional<uint64_t> val_every;
};

std::string duration_string(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600) {
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
    }
    return buf;
}

// Progress on stderr: one line rewritten in place on a terminal, else (a log file, CI) a
// line every few seconds.
class ProgressLine {
  public:
    ProgressLine() : tty_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()), last_(start_) {}

    void update(const data::PrepareProgress& p) {
        const auto now = Clock::now();
        const bool done = p.bytes_read >= p.bytes_total;
        if (!done &&
            now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5)))
            return;
        last_ = now;
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const double rate = elapsed > 0 ? static_cast<double>(p.bytes_read) / elapsed : 0;
        const double percent =
            p.bytes_total ? 100.0 * static_cast<double>(p.bytes_read) / p.bytes_total : 100.0;
        std::string eta = "--:--";
        if (rate > 0)
            eta = duration_string(static_cast<double>(p.bytes_total - p.bytes_read) / rate);
        std::fprintf(
            stderr, "%sread %s of %s (%.1f%%), %.2f MB/s, ETA %s, %llu documents, %llu tokens%s",
            tty_ ? "\r" : "", human_bytes(p.bytes_read).c_str(), human_bytes(p.bytes_total).c_str(),
            percent, rate / 1e6, eta.c_str(), static_cast<unsigned long long>(p.documents),
            static_cast<unsigned long long>(p.tokens), tty_ ? "\033[K" : "\n");
        pending_ = tty_ && !done;
        if (tty_ && done) std::fputc('\n', stderr);
        std::fflush(stderr);
    }

    // Ends a line left open on a terminal (an error is about to be printed).
    void end_line() {
        if (pending_) std::fputc('\n', stderr);
        pending_ = false;
    }

  private:
    using Clock = std::chrono::steady_clock;
    bool tty_, pending_ = false;
    Clock::time_point start_, last_;
};

void run_data_prepare(DataPrepareFlags& f) {
    data::PrepareOptions& o = f.options;
    if (f.val_every) {
        o.val_every = *f.val_every;
        if (o.val_every == 0) throw ArgumentError("data prepare: --val-every must be >= 2");
    } else if (f.val_fraction) {
        o.val_fraction = *f.val_fraction;
    }
    auto progress = std::make_shared<ProgressLine>();
    o.progress = [progress](const data::PrepareProgress& p) { progress->update(p); };
    struct EndLine {
        ProgressLine& line;
        ~EndLine() { line.end_line(); }
    } end_line{*progress};
    const data::PrepareReport r = data::prepare_token_shards(o);
    const data::ShardSetInfo& i = r.meta.info;
    std::printf(
        "wrote %s in %.1f s: train %llu tokens, %llu bytes, %llu documents (%u shards); "
        "val %llu tokens, %llu bytes, %llu documents; %llu duplicates dropped\n",
        o.output.c_str(), r.seconds, static_cast<unsigned long long>(i.train_tokens),
        static_cast<unsigned long long>(i.train_bytes),
        static_cast<unsigned long long>(i.train_documents), r.meta.train_shards,
        static_cast<unsigned long long>(i.val_tokens), static_cast<unsigned long long>(i.val_bytes),
        static_cast<unsigned long long>(i.val_documents),
        static_cast<unsigned long long>(i.duplicates_dropped));
    if (i.val_documents == 0)
        std::fprintf(stderr,
                     "edgelm: warning: the validation split is empty (%llu documents kept); "
                     "raise --val-fraction or lower --val-every\n",
                     static_cast<unsigned long long>(i.train_documents));
}

struct EmailFlags {
    std::vector<std::string> inputs;
    std::string label, output, pattern = "*", headers = "from,subject";
    size_t max_chars = data::EmailTextOptions{}.max_chars;
};

void run_data_emails(const EmailFlags& f) {
    data::EmailTextOptions options;
    options.headers.clear();
    for (const std::string& h : split_fields(f.headers, ','))
        if (!h.empty()) {
            std::string name = h;
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            options.headers.push_back(name);
        }
    options.max_chars = f.max_chars;
    if (f.label.empty() || f.label.find_first_of("\n\r") != std::string::npos)
        throw ArgumentError("data emails: --label must be a non-empty single-line name");
    std::vector<data::InputFile> files;
    for (const data::InputFile& in : data::expand_inputs(f.inputs, "data emails")) {
        const std::string name = std::filesystem::path(in.path).filename().string();
        if (fnmatch(f.pattern.c_str(), name.c_str(), 0) == 0) files.push_back(in);
    }
    if (files.empty())
        throw ArgumentError("data emails: no file name matches --pattern '" + f.pattern + "'");
    AtomicFileWriter out(f.output);
    uint64_t bytes_in = 0;
    for (const data::InputFile& in : files) {
        std::ifstream file(in.path, std::ios::binary);
        if (!file) throw IoError(in.path + ": cannot read the message");
        const std::string raw(std::istreambuf_iterator<char>(file), {});
        bytes_in += raw.size();
        const nlohmann::json line = {{"text", data::email_to_text(raw, options, in.path)},
                                     {"label", f.label}};
        const std::string s = line.dump() + "\n";
        out.write(s.data(), s.size());
    }
    out.commit();
    std::fprintf(stderr, "%zu messages (%s) -> %s, label %s\n", files.size(),
                 human_bytes(bytes_in).c_str(), f.output.c_str(), f.label.c_str());
}

}  // namespace

void add_data(CLI::App& app) {
    CLI::App* group = app.add_subcommand(
        "data", "Training data: token shards from a corpus, classifier JSONL from e-mails");
    group->require_subcommand(1);

    auto f = std::make_shared<DataPrepareFlags>();
    f->options.threads = default_threads();
    data::PrepareOptions& o = f->options;
    CLI::App* sub = group->add_subcommand(
        "prepare",
        "Tokenize a corpus into train/val token shards (documents with BOS, exact duplicates "
        "dropped) for `edgelm train`");
    sub->add_option("--input", o.inputs, "Files or directories (walked recursively, sorted)")
        ->required();
    sub->add_option("--tokenizer", o.tokenizer, "tok.model from `edgelm tokenizer train`")
        ->required();
    sub->add_option("-o,--output", o.output, "Output directory (must not exist, or be empty)")
        ->required();
    sub->add_option("--format", o.format,
                    "txt (documents = blocks separated by empty lines), jsonl:FIELD, csv:COLUMN")
        ->capture_default_str();
    CLI::Option* fraction =
        sub->add_option("--val-fraction", f->val_fraction,
                        "Hold out documents whose text hashes below this fraction (default 0.1)");
    sub->add_option("--val-every", f->val_every,
                    "Instead: hold out document i when i % N == N-1 (counted after dedup)")
        ->excludes(fraction);
    sub->add_option("--shard-tokens", o.max_shard_tokens, "Tokens per shard file at most")
        ->capture_default_str();
    sub->add_option("-t,--threads", o.threads, "Threads")->capture_default_str();
    sub->callback([f] { run_data_prepare(*f); });

    auto e = std::make_shared<EmailFlags>();
    CLI::App* emails = group->add_subcommand(
        "emails",
        "Raw RFC 822 messages -> JSONL lines {\"text\", \"label\"} for `edgelm finetune --task "
        "classify` (headers, MIME parts, quoted-printable/base64 bodies, HTML to text)");
    emails->add_option("inputs", e->inputs, "Message files or directories (walked, sorted)")
        ->required();
    emails->add_option("--label", e->label, "The label of every message given")->required();
    emails->add_option("-o,--output", e->output, "Output JSONL file")->required();
    emails
        ->add_option("--pattern", e->pattern,
                     "Only files whose name matches this glob (e.g. '*.txt')")
        ->capture_default_str();
    emails
        ->add_option("--headers", e->headers,
                     "Header fields kept at the start of the text, comma-separated")
        ->capture_default_str();
    emails->add_option("--max-chars", e->max_chars, "Cut each text after this many bytes")
        ->capture_default_str();
    emails->callback([e] { run_data_emails(*e); });
}

}  // namespace edgelm::cli
