// Reads and writes a Vocabulary as GGUF `tokenizer.ggml.*` metadata.
#pragma once

#include "tokenizer/tokenizer.h"

namespace edgelm {

class GgufFile;
class GgufWriter;

// Throws FormatError naming the key when the tokenizer metadata is missing or bad.
Vocabulary read_vocabulary(const GgufFile& file);
void write_vocabulary(const Vocabulary& vocab, GgufWriter& writer);

}  // namespace edgelm
