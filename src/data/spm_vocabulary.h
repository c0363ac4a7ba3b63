// The Vocabulary of a SentencePiece model file (tok.model), read without libsentencepiece:
// a .model file is a serialized sentencepiece.ModelProto, and the few fields edgelm needs
// (pieces with their scores and types, the special pieces, the normalizer settings) are
// read straight from the protobuf wire format. That also gives the user-defined piece
// types, which libsentencepiece 0.1.97's processor API does not expose.
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace edgelm::data {

// Reads a BPE model with the settings edgelm's tokenizer implements (identity
// normalization, remove_extra_whitespaces=false, whitespace as a prefix) -- as `edgelm
// tokenizer train` writes them -- and returns a "llama" Vocabulary whose tokenizer gives
// the same ids as libsentencepiece. Other models (unigram, nmt_nfkc, ...) are refused with
// a FormatError saying which setting differs; a missing file is an IoError.
Vocabulary load_spm_vocabulary(const std::string& model_path);
// The same from the file's bytes (a checkpoint stores them); `name` appears in errors.
Vocabulary spm_vocabulary_from_bytes(std::string_view bytes, const std::string& name);

}  // namespace edgelm::data
