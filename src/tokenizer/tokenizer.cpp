#include "tokenizer/tokenizer.h"

#include "core/error.h"

namespace edgelm {

std::unique_ptr<Tokenizer> make_tokenizer(Vocabulary vocab) {
    if (vocab.model == "llama") return make_spm_tokenizer(std::move(vocab));
    if (vocab.model == "gpt2") return make_gpt2_tokenizer(std::move(vocab));
    throw FormatError("tokenizer.ggml.model: tokenizer model '" + vocab.model +
                      "' is not supported (edgelm reads 'llama' and 'gpt2')");
}

}  // namespace edgelm
