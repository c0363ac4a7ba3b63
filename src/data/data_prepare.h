// `edgelm data prepare`: a corpus -> token shards for the trainer (token_shards.h).
//
// Input files are read as a stream of documents (document_reader.h) in the order given,
// directories walked in sorted order. Exact duplicates (same text; 128-bit hash) are
// dropped, as are empty documents. Each remaining document goes to the validation split by
// one of two rules:
//   val_every = N   document i, counted from 0 over the documents KEPT (after duplicates
//                   and empty documents are dropped), is held out when i % N == N - 1;
//   val_fraction F  a document is held out when a hash of its text, as a number in
//                   [0, 1), is below F: the same text always lands in the same split,
//                   whatever the order or the other inputs.
// Documents are encoded with the tokenizer the runtime uses (from the .model file), BOS
// first, in batches spread over threads; the output does not depend on the thread count.
// Everything is written into a temporary directory beside the output, which is renamed
// into place at the end: a failed run leaves no partial output.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/token_shards.h"

namespace edgelm::data {

struct PrepareProgress {
    uint64_t bytes_read = 0, bytes_total = 0;  // of the input files
    uint64_t documents = 0, tokens = 0;        // written so far
};

struct PrepareOptions {
    std::vector<std::string> inputs;  // files and directories
    std::string tokenizer;            // tok.model (SentencePiece BPE)
    std::string output;               // directory: must not exist, or be empty
    std::string format = "txt";       // txt, jsonl:FIELD or csv:COLUMN
    double val_fraction = 0.1;        // used when val_every == 0; in (0, 1)
    uint64_t val_every = 0;           // >= 2 to hold out every N-th document
    uint64_t max_shard_tokens = kDefaultMaxShardTokens;
    size_t max_document_bytes = size_t{1} << 20;  // txt blocks longer than this are cut
    int threads = 1;
    std::function<void(const PrepareProgress&)> progress;  // called after each batch
};

struct PrepareReport {
    ShardSetMeta meta;  // as written to meta.json
    uint64_t input_bytes = 0;
    double seconds = 0;
};

// Throws ArgumentError for bad options (unknown format, val rule out of range, output
// directory not empty, missing input or tokenizer), FormatError for malformed input
// (naming the file and line), IoError for failed reads and writes.
PrepareReport prepare_token_shards(const PrepareOptions& options);

}  // namespace edgelm::data
