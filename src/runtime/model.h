// A loaded model: the mapped GGUF file, its configuration, tokenizer and weight views.
// Immutable after load; share it (std::shared_ptr<const Model>) between sessions.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "runtime/clustered_weights.h"
#include "runtime/model_config.h"
#include "runtime/row_groups.h"
#include "runtime/sparse_weights.h"
#include "runtime/weights.h"
#include "tokenizer/tokenizer.h"

namespace edgelm {

struct ModelLoadOptions {
    // Repack weight matrices into interleaved 4-row groups for the decoding kernels
    // (row_groups.h): a copy of the weights in memory in place of the mapped pages.
    // Off: run from the mapping as stored.
    bool group_rows = true;
};

class Model {
  public:
    // Maps, validates and wires up a model. Throws IoError / FormatError naming the
    // file and the tensor or key at fault.
    static std::shared_ptr<const Model> load(const std::string& path,
                                             const ModelLoadOptions& options = {});

    const ModelConfig& config() const { return config_; }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    const ModelWeights& weights() const { return weights_; }
    const GgufFile& file() const { return *file_; }
    // A fingerprint of the file's header (metadata and tensor table), used to refuse a
    // saved session state made with a different model.
    uint64_t fingerprint() const { return fingerprint_; }

  private:
    Model() = default;
    WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols);
    const float* vector(const std::string& name, int64_t n);
    void group_weight_rows();
    void load_classifier();

    std::unique_ptr<GgufFile> file_;
    ModelConfig config_;
    std::unique_ptr<Tokenizer> tokenizer_;
    ModelWeights weights_;
    std::vector<std::vector<float>> converted_;             // norms stored in a non-f32 type
    WeightArena grouped_;                                   // repacked weight matrices
    std::map<std::string, ClusteredMatrixData> clustered_;  // decoded clustered matrices
    std::map<std::string, SparseMatrixData> sparse_;        // decoded sparse matrices
    uint64_t fingerprint_ = 0;
};

}  // namespace edgelm
