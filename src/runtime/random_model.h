// Models with random weights for tests and benchmarks (`edgelm init`): matrices drawn
// from N(0, 0.02), norms 1, a synthetic SentencePiece vocabulary. Deterministic for a
// seed, whatever the weight type.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "runtime/model_config.h"

namespace edgelm {

// llama2.c's TinyStories shapes: "260k", "15m", "42m", "110m". Throws ArgumentError.
ModelConfig preset_config(const std::string& name);

void write_random_model(const std::string& path, const ModelConfig& config, DType type,
                        uint64_t seed);

}  // namespace edgelm
