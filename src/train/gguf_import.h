// Starting a training run from a GGUF model (`edgelm train --init-from model.gguf`): the
// shape comes from the file (ModelConfig::from_gguf, read by the command line) and its
// weights replace the random initialisation, so a pruned model can win back quality and
// a trained model can continue on new data.
#pragma once

#include <string>

#include "train/llama_module.h"

namespace edgelm {
class GgufFile;
}

namespace edgelm::train {

// Copies every weight of the file into the model (decoding quantized tensors). Throws
// ArgumentError if a tensor is missing or has another shape, or if the file's vocabulary
// differs from `tokenizer_model` (the .model bytes the training data was made with).
void load_gguf_weights(const std::string& path, LlamaModelImpl& model,
                       const std::string& tokenizer_model);
// The same without the vocabulary check (the caller tokenizes with the file's own).
void copy_gguf_weights(const GgufFile& file, LlamaModelImpl& model);

}  // namespace edgelm::train
