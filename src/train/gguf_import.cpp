#include "train/gguf_import.h"

#include "core/error.h"
#include "gguf/gguf_reader.h"
#include "tokenizer/gguf_vocabulary.h"
#include "train/gguf_export.h"

namespace edgelm::train {

void load_gguf_weights(const std::string& path, LlamaModelImpl& model,
                       const std::string& tokenizer_model) {
    const GgufFile f(path);
    const Vocabulary file_vocab = read_vocabulary(f);
    const Vocabulary data_vocab = vocabulary_from_spm_bytes(tokenizer_model);
    if (file_vocab.tokens != data_vocab.tokens)
        throw ArgumentError(path + ": its vocabulary (" + std::to_string(file_vocab.tokens.size()) +
                            " tokens) is not the tokenizer the --data shards were made with (" +
                            std::to_string(data_vocab.tokens.size()) +
                            " tokens); prepare the data with the model's tokenizer");
    copy_gguf_weights(f, model);
}

void copy_gguf_weights(const GgufFile& f, LlamaModelImpl& model) {
    const std::string& path = f.path();
    torch::NoGradGuard no_grad;
    for (auto& [name, param] : gguf_named_parameters(model)) {
        const GgufTensor* t = f.find_tensor(name);
        if (!t) throw ArgumentError(path + ": missing tensor " + name + " for --init-from");
        // GGUF dims are innermost first; the parameter is (rows, cols).
        std::vector<int64_t> shape(t->dims.rbegin(), t->dims.rend());
        if (shape != param.sizes().vec())
            throw ArgumentError(path + ": tensor " + name + " has another shape than the model");
        const TypeTraits* tt = find_type_traits(t->type);
        if (!tt)
            throw ArgumentError(path + ": tensor " + name + " is stored as " + dtype_name(t->type) +
                                ", which edgelm cannot decode");
        torch::Tensor values = torch::empty(shape, torch::kFloat);
        tt->to_float(t->data, values.data_ptr<float>(), t->n_elements);
        param.copy_(values);
    }
}

}  // namespace edgelm::train
