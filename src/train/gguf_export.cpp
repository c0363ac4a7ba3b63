#include "train/gguf_export.h"

#include <cstring>
#include <map>

#include "core/error.h"
#include "data/spm_vocabulary.h"
#include "runtime/model_writer.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace edgelm::train {

void write_gguf(LlamaModelImpl& model, const Vocabulary& vocab, const std::string& path, DType type,
                const std::string& name, const ClassifierHeadSource* head) {
    std::map<std::string, torch::Tensor> by_name;
    for (auto& [n, t] : gguf_named_parameters(model))
        by_name[n] = t.detach().to(torch::kFloat).contiguous();
    std::vector<ModelTensorSource> tensors = model_tensor_layout(model.config);
    for (ModelTensorSource& t : tensors) {
        auto it = by_name.find(t.name);
        if (it == by_name.end()) throw Error("export: the model has no tensor '" + t.name + "'");
        const torch::Tensor& src = it->second;
        int64_t n = 1;
        for (int64_t d : t.dims) n *= d;
        if (src.numel() != n) throw Error("export: tensor '" + t.name + "' has the wrong size");
        t.fill = [src, n](float* out) {
            std::memcpy(out, src.data_ptr<float>(), static_cast<size_t>(n) * sizeof(float));
        };
    }
    write_model(path, model.config, vocab, tensors, type, name, head);
}

Vocabulary vocabulary_from_spm_bytes(const std::string& model_bytes) {
    return data::spm_vocabulary_from_bytes(model_bytes, "the checkpoint's tokenizer model");
}

void export_checkpoint(const std::string& checkpoint, const std::string& out, DType type) {
    const CheckpointMeta meta = read_checkpoint_meta(checkpoint);
    LlamaModel model(meta.config, meta.config.blocks());
    load_checkpoint(checkpoint, *model, nullptr);
    write_gguf(*model, vocabulary_from_spm_bytes(meta.tokenizer_model), out, type, "edgelm");
}

}  // namespace edgelm::train
