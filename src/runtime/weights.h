// Views of a model's weights inside the mapped GGUF file. Immutable once loaded and
// shared by every session of the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace edgelm {

// A sparse matrix's rows (runtime/sparse_weights.h): a bit per weight, and the non-zero
// values of row r at values + offsets[r].
struct SparseRows {
    const uint8_t* mask = nullptr;
    const uint64_t* offsets = nullptr;
    const float* values = nullptr;
};

// A matrix of `rows` x `cols` (GGUF dims {cols, rows}); each row is `row_bytes` of
// `type` blocks, so one output element is traits->dot over one row. The first
// `grouped_rows` rows (a multiple of 4, 0 for a plain row-major matrix) are stored as
// interleaved 4-row groups (runtime/row_groups.h); each group takes the bytes of its
// four rows, so the rows after them sit where a plain matrix has them.
struct WeightMatrix {
    const TypeTraits* traits = nullptr;
    int64_t rows = 0, cols = 0;
    uint64_t row_bytes = 0;
    const uint8_t* data = nullptr;
    int64_t grouped_rows = 0;
    // Clustered matrices (runtime/clustered_weights.h): each row holds codebook indices
    // and each weight is codebook[index] (of the row's own codebook when per-row, at
    // codebook + r * codebook_stride). traits then only gives act_type (f32).
    const float* codebook = nullptr;
    int64_t codebook_stride = 0;        // 0: one codebook for the tensor
    int index_bits = 0;                 // 4 or 8
    int codebook_size = 0;              // entries of a codebook in memory: 16, 32 (padded) or k
    const float* row_scales = nullptr;  // or each row's weights times its scale
    // Sparse matrices (runtime/sparse_weights.h); traits then only gives act_type (f32).
    const SparseRows* sparse = nullptr;

    // Row r in plain layout; only for r >= grouped_rows (read_row() handles any row).
    const uint8_t* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
    // The group holding rows 4g .. 4g + 3, for 4g < grouped_rows.
    const uint8_t* group(int64_t g) const {
        return data + static_cast<uint64_t>(g) * 4 * row_bytes;
    }
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

// A sequence-classification head: logits = weight · mean(final normed hidden states) + bias.
struct ClassifierWeights {
    std::vector<std::string> labels;
    int max_tokens = 0;           // texts are cut to this many tokens (BOS included)
    WeightMatrix weight;          // (labels, dim)
    const float* bias = nullptr;  // (labels)
};

struct ModelWeights {
    WeightMatrix token_embd;  // (vocab, dim)
    std::vector<LayerWeights> layers;
    const float* output_norm;                     // (dim)
    WeightMatrix output;                          // (vocab, dim); token_embd when tied
    const float* rope_freq_factors = nullptr;     // (rope_dim / 2) or null
    std::optional<ClassifierWeights> classifier;  // when the file has a head
};

}  // namespace edgelm
