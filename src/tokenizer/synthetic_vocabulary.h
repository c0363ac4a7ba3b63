// A SentencePiece-style vocabulary for models made without training data (`edgelm
// init`, tests, benchmarks): <unk>, <s>, </s>, the 256 byte-fallback tokens, then
// pieces built from "▁" and ASCII letters by increasing length, each reachable by
// merging two shorter pieces, with scores that decrease with length.
#pragma once

#include "tokenizer/tokenizer.h"

namespace edgelm {

// size >= 259 (3 special + 256 bytes). Throws ArgumentError otherwise.
Vocabulary make_synthetic_spm_vocabulary(int size);

}  // namespace edgelm
