// Views of a model's weights inside the mapped GGUF file. Immutable once loaded and
// shared by every session of the model.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace edgelm {

// A row-major matrix of `rows` x `cols` (GGUF dims {cols, rows}); each row is
// `row_bytes` of `type` blocks, so one output element is traits->dot over one row.
struct WeightMatrix {
    const TypeTraits* traits = nullptr;
    int64_t rows = 0, cols = 0;
    uint64_t row_bytes = 0;
    const uint8_t* data = nullptr;

    const uint8_t* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

struct LayerWeights {
    const float* attn_norm;  // (dim)
    WeightMatrix wq;         // (q_dim, dim)
    WeightMatrix wk;         // (kv_dim, dim)
    WeightMatrix wv;         // (kv_dim, dim)
    WeightMatrix wo;         // (dim, q_dim)
    const float* ffn_norm;   // (dim)
    WeightMatrix w_gate;     // (ffn, dim)
    WeightMatrix w_up;       // (ffn, dim)
    WeightMatrix w_down;     // (dim, ffn)
};

struct ModelWeights {
    WeightMatrix token_embd;  // (vocab, dim)
    std::vector<LayerWeights> layers;
    const float* output_norm;                  // (dim)
    WeightMatrix output;                       // (vocab, dim); token_embd when tied
    const float* rope_freq_factors = nullptr;  // (rope_dim / 2) or null
};

}  // namespace edgelm
