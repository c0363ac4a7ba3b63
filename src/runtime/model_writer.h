// Writes a llama-architecture GGUF model that llama.cpp and edgelm both run: the
// config as `llama.*` keys, the vocabulary as `tokenizer.ggml.*`, and tensors under
// llama.cpp's names. Weight matrices are stored in the requested type; 1-D tensors
// (norms) always stay f32, as llama.cpp expects.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "runtime/model_config.h"
#include "tokenizer/tokenizer.h"

namespace edgelm {

class GgufWriter;

// Fills `out` (n_elements floats) with a tensor's values in GGUF order (dims[0] fastest).
using TensorFiller = std::function<void(float* out)>;

struct ModelTensorSource {
    std::string name;
    std::vector<int64_t> dims;  // GGUF order: dims[0] innermost
    TensorFiller fill;
};

// The tensors a config needs, in llama.cpp's order, each with its GGUF dims; `fill`
// left empty for the caller to set.
std::vector<ModelTensorSource> model_tensor_layout(const ModelConfig& config);

// The storage type for a tensor when a model is written or quantized as `requested`.
DType storage_type_for(const std::vector<int64_t>& dims, DType requested);

// llama.cpp's general.file_type for a model whose matrices are `type`.
uint32_t llama_file_type(DType type);

// Adds the config, vocabulary and general.* keys to a writer.
void add_model_metadata(GgufWriter& w, const ModelConfig& config, const Vocabulary& vocab,
                        DType weight_type, const std::string& name);

// A classification head to store with a model (gguf_keys.h kClassifier*).
struct ClassifierHeadSource {
    std::vector<std::string> labels;
    int max_tokens = 0;
    std::vector<float> weight;  // (labels, dim) row-major
    std::vector<float> bias;    // (labels)
};

// Writes the model; tensor values are produced one tensor at a time. With `head`, the
// classifier keys and tensors are added (the weight in the model's weight type).
void write_model(const std::string& path, const ModelConfig& config, const Vocabulary& vocab,
                 const std::vector<ModelTensorSource>& tensors, DType weight_type,
                 const std::string& name, const ClassifierHeadSource* head = nullptr);

// Converts floats to `type` bytes (rows of dims[0] elements).
std::vector<uint8_t> encode_tensor(const float* values, int64_t n_elements, DType type);

}  // namespace edgelm
