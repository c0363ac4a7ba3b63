// edgelm tokenizer train: a SentencePiece-BPE tokenizer (tok.model) from text files.
#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "data/spm_training.h"

namespace edgelm::cli {

namespace {

void run_tokenizer_train(const data::SpmTrainOptions& o) {
    const auto start = std::chrono::steady_clock::now();
    data::train_spm_tokenizer(o);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Read back with edgelm's own loader: the file it wrote is one the runtime accepts.
    const Vocabulary v = data::load_spm_vocabulary(o.output);
    std::printf("trained a SentencePiece BPE tokenizer: vocab %zu, %.1f s, wrote %s\n",
                v.tokens.size(), seconds, o.output.c_str());
}

}  // namespace

void add_tokenizer(CLI::App& app) {
    CLI::App* group = app.add_subcommand("tokenizer", "Tokenizers: train one for your corpus");
    group->require_subcommand(1);

    auto o = std::make_shared<data::SpmTrainOptions>();
    o->threads = default_threads();
    CLI::App* sub = group->add_subcommand(
        "train",
        "Train a SentencePiece BPE tokenizer (byte fallback, identity normalization, digits "
        "split): ids 0-2 are <unk> <s> </s>, then the special tokens, then 256 byte tokens");
    sub->add_option("--input", o->inputs,
                    "Text files or directories (walked recursively), one sentence per line")
        ->required();
    sub->add_option("--vocab-size", o->vocab_size, "Vocabulary size, above 259 + specials")
        ->required();
    sub->add_option("--special", o->special_tokens,
                    "Tokens always kept whole, comma separated (e.g. '<sep>,<user>')")
        ->delimiter(',');
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_option("--max-sentences", o->max_sentences,
                    "Train on a random sample of this many lines (0 = all)")
        ->capture_default_str();
    sub->add_flag("-v,--verbose", o->verbose, "Show sentencepiece's training log");
    sub->add_option("-o,--output", o->output, "Output .model file")->required();
    sub->callback([o] { run_tokenizer_train(*o); });
}

}  // namespace edgelm::cli
