// Training a SentencePiece-BPE tokenizer with libsentencepiece, in the form edgelm's own
// tokenizer reproduces id for id: byte fallback (every byte is representable, so there
// is no unknown text), identity normalization, spaces kept as they are, a space prefix,
// digits split one by one. The result is a standard .model file, readable by
// libsentencepiece, `load_spm_vocabulary` and other tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/spm_vocabulary.h"

namespace edgelm::data {

struct SpmTrainOptions {
    // Text files, one sentence per line (empty lines are skipped); directories are walked
    // recursively. Lines longer than 4192 bytes are skipped by sentencepiece.
    std::vector<std::string> inputs;
    int vocab_size = 0;
    // User-defined symbols: always one token, never merged with their neighbours.
    std::vector<std::string> special_tokens;
    std::string output;  // the .model file, written atomically
    int threads = 1;
    uint64_t max_sentences = 0;  // 0 = all; else a uniform random sample of this many
    bool verbose = false;        // let sentencepiece log its progress to stderr
};

// Ids: <unk> 0, <s> (BOS) 1, </s> (EOS) 2, then the special tokens, the 256 byte tokens
// <0x00>..<0xFF>, then the learned pieces and single characters. Throws ArgumentError for
// bad options (missing input, vocab_size below 3 + 256 + specials, a special token that is
// empty, repeated, reserved or holds a comma), Error with sentencepiece's message when
// training fails (e.g. a vocabulary too large for the corpus).
void train_spm_tokenizer(const SpmTrainOptions& options);

}  // namespace edgelm::data
