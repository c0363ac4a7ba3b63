// Structured pruning: removes whole attention heads, feed-forward channels or layers and
// writes a smaller dense model that any llama runtime runs at the new shape.
//
// What goes is ranked by importance, per layer for heads and channels (the runtime's shape
// is the same in every layer, so each layer loses the same number):
// - ffn channel i: ||ffn_down[:, i]|| times the channel's size, which is the RMS of its
//   SwiGLU output over calibration text (sqrt(H_ii / tokens) of ffn_down's input
//   statistics) or, without calibration, ||ffn_gate[i]|| * ||ffn_up[i]||;
// - attention: whole kv groups (a kv head and the query heads that read it, so grouped-query
//   attention keeps its shape); a query head's score is ||attn_output[:, head]||_F times
//   the RMS of its attention output over calibration text, or ||attn_q[head]||_F without;
// - layers: the expected squared size of what the layer adds to the residual stream,
//   tr(W H W^T) / tokens for attn_output and ffn_down, or their squared Frobenius norms
//   without calibration.
// Channel counts are kept at multiples of 32 so the result still quantizes to Q8_0/Q4_0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model_config.h"

namespace edgelm {

struct CalibrationStats;

enum class PruneUnit { Heads, Ffn, Layers };

struct StructuredPruneOptions {
    PruneUnit unit = PruneUnit::Ffn;
    double amount = 0;                              // fraction of the units to remove, in (0, 1)
    const CalibrationStats* calibration = nullptr;  // null: rank by weight magnitude
};

struct StructuredPruneReport {
    ModelConfig before, after;
    uint64_t size_in = 0, size_out = 0;
    std::vector<int> removed_layers;  // PruneUnit::Layers, original indices
};

// Parses "heads", "ffn" or "layers". Throws ArgumentError.
PruneUnit parse_prune_unit(const std::string& name);

// Throws ArgumentError for an amount outside (0, 1), an input stored below f16 precision
// (prune before quantizing), or a model with cross-layer sharing (its blocks serve several
// layers). The input file is only read.
StructuredPruneReport prune_structured(const std::string& in_path, const std::string& out_path,
                                       const StructuredPruneOptions& options);

}  // namespace edgelm
