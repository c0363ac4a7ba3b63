#include "runtime/model_writer.h"

#include <algorithm>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/gguf_vocabulary.h"

namespace edgelm {

std::vector<ModelTensorSource> model_tensor_layout(const ModelConfig& c) {
    const int64_t dim = c.dim, q = c.q_dim(), kv = c.kv_dim(), ffn = c.ffn_dim, vocab = c.vocab;
    std::vector<ModelTensorSource> t;
    t.push_back({keys::kTokenEmbd, {dim, vocab}, {}});
    t.push_back({keys::kOutputNorm, {dim}, {}});
    if (!c.tied_output) t.push_back({keys::kOutput, {dim, vocab}, {}});
    for (int l = 0; l < c.blocks(); ++l) {
        auto n = [&](const char* s) { return keys::block_tensor(l, s); };
        t.push_back({n(keys::kAttnNorm), {dim}, {}});
        t.push_back({n(keys::kAttnQ), {dim, q}, {}});
        t.push_back({n(keys::kAttnK), {dim, kv}, {}});
        t.push_back({n(keys::kAttnV), {dim, kv}, {}});
        t.push_back({n(keys::kAttnOutput), {q, dim}, {}});
        t.push_back({n(keys::kFfnNorm), {dim}, {}});
        t.push_back({n(keys::kFfnGate), {dim, ffn}, {}});
        t.push_back({n(keys::kFfnUp), {dim, ffn}, {}});
        t.push_back({n(keys::kFfnDown), {ffn, dim}, {}});
    }
    return t;
}

DType storage_type_for(const std::vector<int64_t>& dims, DType requested) {
    if (dims.size() < 2) return DType::F32;
    const auto info = storage_info(static_cast<uint32_t>(requested));
    // A row that does not divide into blocks cannot use a block type; keep it f32 rather
    // than fail, as llama.cpp's quantizer does for odd shapes.
    if (!info) return DType::F32;
    if (dims[0] % info->block_size == 0) return requested;
    // llama.cpp's fallback for a k-quant on rows that are not a whole number of 256-blocks.
    // (For q4_K llama.cpp picks q5_0, which edgelm does not run; q4_0 is the nearest size.)
    if (requested == DType::Q6_K && dims[0] % 32 == 0) return DType::Q8_0;
    if (requested == DType::Q4_K && dims[0] % 32 == 0) return DType::Q4_0;
    return DType::F32;
}

uint32_t llama_file_type(DType type) {
    switch (type) {
        case DType::F32:
            return 0;
        case DType::F16:
            return 1;
        case DType::Q4_0:
            return 2;
        case DType::Q8_0:
            return 7;
        case DType::BF16:
            return 32;
        case DType::Q6_K:
            return 18;  // LLAMA_FTYPE_MOSTLY_Q6_K
        case DType::Q4_K:
            return 14;  // LLAMA_FTYPE_MOSTLY_Q4_K_S
        default:
            throw ArgumentError(std::string("no llama.cpp file type for ") + dtype_name(type));
    }
}

void add_model_metadata(GgufWriter& w, const ModelConfig& config, const Vocabulary& vocab,
                        DType weight_type, const std::string& name) {
    config.to_gguf(w);
    w.set(keys::kName, GgufValue::string(name));
    w.set(keys::kFileType, GgufValue::u32(llama_file_type(weight_type)));
    if (weight_type == DType::Q8_0 || weight_type == DType::Q4_0)
        w.set(keys::kQuantizationVersion, GgufValue::u32(2));
    write_vocabulary(vocab, w);
}

std::vector<uint8_t> encode_tensor(const float* values, int64_t n, DType type) {
    const TypeTraits& tr = type_traits(type);
    if (!tr.from_float)
        throw ArgumentError(std::string("edgelm cannot write ") + tr.name +
                            " tensors yet (it reads them)");
    std::vector<uint8_t> out(static_cast<size_t>(n / tr.block_size * tr.block_bytes));
    tr.from_float(values, out.data(), n);
    return out;
}

void write_model(const std::string& path, const ModelConfig& config, const Vocabulary& vocab,
                 const std::vector<ModelTensorSource>& tensors, DType weight_type,
                 const std::string& name, const ClassifierHeadSource* head) {
    config.validate();
    GgufWriter w;
    add_model_metadata(w, config, vocab, weight_type, name);
    std::vector<ModelTensorSource> all = tensors;
    if (head) {
        const auto n = static_cast<int64_t>(head->labels.size());
        if (n < 2 || head->weight.size() != static_cast<size_t>(n * config.dim) ||
            head->bias.size() != static_cast<size_t>(n) || head->max_tokens < 1)
            throw ArgumentError("write_model: malformed classifier head");
        w.set(keys::kClassifierLabels, GgufValue::string_array(head->labels));
        w.set(keys::kClassifierMaxTokens, GgufValue::u32(static_cast<uint32_t>(head->max_tokens)));
        w.set(keys::kClassifierPooling, GgufValue::string("mean"));
        all.push_back({keys::kClassifierWeight, {config.dim, n}, [head](float* out) {
                           std::copy(head->weight.begin(), head->weight.end(), out);
                       }});
        all.push_back({keys::kClassifierBias, {n}, [head](float* out) {
                           std::copy(head->bias.begin(), head->bias.end(), out);
                       }});
    }
    for (const ModelTensorSource& t : all) {
        const DType type = storage_type_for(t.dims, weight_type);
        int64_t n = 1;
        for (int64_t d : t.dims) n *= d;
        const TensorFiller fill = t.fill;
        w.add_tensor(t.name, type, t.dims, [fill, n, type] {
            std::vector<float> values(static_cast<size_t>(n));
            fill(values.data());
            return encode_tensor(values.data(), n, type);
        });
    }
    w.write(path);
}

}  // namespace edgelm
