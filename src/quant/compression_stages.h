// The stages of `edgelm compress --stages "prune:ffn:0.5,recover:300,quantize:q4_0"`:
// each reads the model the previous one wrote.
//   prune:S                   unstructured magnitude pruning to sparsity S
//   (quant/magnitude_prune.h) prune:ffn|heads|layers:A  structured pruning of the fraction A
//   (src/quant/structured_prune.h) recover:STEPS             fine-tuning on --data (edgelm train
//   --init-from --keep-pruned) quantize:TYPE             q8_0, q4_0, f16, bf16 (GPTQ for q8_0/q4_0
//   with --calibration) cluster:BITS[:RATE]       k-means weight sharing, Huffman-coded
//   (quant/cluster_model.h)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/structured_prune.h"

namespace edgelm {

enum class StageKind { Prune, Recover, Quantize, Cluster };

struct CompressionStage {
    StageKind kind;
    std::string spec;  // as written, e.g. "prune:ffn:0.5"
    PruneUnit unit = PruneUnit::Ffn;
    bool unstructured = false;  // prune:S (amount = S)
    double amount = 0;
    int64_t steps = 0;
    DType type = DType::F32;
    int bits = 4;     // cluster
    double rate = 0;  // cluster: target bits per weight of the indices, 0 = plain k-means
};

// Throws ArgumentError naming the stage for an unknown name, a bad value, an empty list, or
// an order that cannot work (pruning or recovering after quantizing: both need float weights).
std::vector<CompressionStage> parse_compression_stages(const std::string& spec);

}  // namespace edgelm
