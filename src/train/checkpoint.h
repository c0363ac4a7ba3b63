// Training checkpoints: one libtorch archive holding everything a run needs to continue
// exactly where it stopped (model, AdamW moments, step, data position of every source)
// and to export a model on its own (the shape and the tokenizer model bytes). Written
// atomically: a crash leaves the previous checkpoint intact.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "runtime/model_config.h"
#include "train/llama_module.h"
#include "train/window_sampler.h"

namespace edgelm::train {

struct CheckpointMeta {
    ModelConfig config;           // with n_blocks
    std::string tokenizer_model;  // the SentencePiece model file's bytes
    int64_t step = 0;
    int64_t tokens_seen = 0;
    double elapsed_seconds = 0;
    uint64_t seed = 0;
    std::vector<WindowSampler::State> samplers;
};

void save_checkpoint(const std::string& path, LlamaModelImpl& model,
                     torch::optim::Optimizer* optimizer, const CheckpointMeta& meta);

// Reads the meta only (shape, tokenizer, position).
CheckpointMeta read_checkpoint_meta(const std::string& path);

// Loads weights (and optimizer state when given) into a model built from the meta's shape.
void load_checkpoint(const std::string& path, LlamaModelImpl& model,
                     torch::optim::Optimizer* optimizer);

}  // namespace edgelm::train
