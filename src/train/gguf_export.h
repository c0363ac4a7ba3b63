// Writes a trained model as a GGUF file the runtime (and, without shared layers,
// llama.cpp) runs: llama.* keys, the tokenizer, tensors under llama.cpp's names.
#pragma once

#include <string>

#include "core/dtype.h"
#include "runtime/model_writer.h"
#include "tokenizer/tokenizer.h"
#include "train/llama_module.h"

namespace edgelm::train {

// With `head`, the classification head is stored too (runtime/model_writer.h).
void write_gguf(LlamaModelImpl& model, const Vocabulary& vocab, const std::string& path, DType type,
                const std::string& name, const ClassifierHeadSource* head = nullptr);

// The vocabulary of a SentencePiece model given as the .model file's bytes.
Vocabulary vocabulary_from_spm_bytes(const std::string& model_bytes);

}  // namespace edgelm::train
