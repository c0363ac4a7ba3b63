// Unstructured magnitude pruning (`edgelm prune --sparsity S`): the fraction S of the
// weights with the smallest magnitude set to exactly zero, over all pruned matrices at
// once (global: layers that matter less lose more) or per matrix. The model keeps its
// shape; matrices are stored as a bit mask and their non-zeros where that is smaller, and the
// runtime runs them with a sparse kernel above its measured break-even
// (runtime/sparse_weights.h). The zeros also pay off when a
// later stage codes them (`edgelm cluster` reserves an index for 0, about a bit per weight
// at 50 % sparsity), and a recovery run keeps them (`edgelm train --keep-pruned`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgelm {

struct MagnitudePruneOptions {
    double sparsity = 0.5;  // in [0, 1)
    bool per_tensor = false;
    // token_embd / output too (by default they are left whole, as is usual: every
    // token's row matters, and a tied embedding is also the output layer).
    bool embeddings = false;
    // Store matrices that get smaller so as a bit mask and their non-zeros
    // (runtime/sparse_weights.h: the runtime runs them sparse above its break-even, dense
    // below); off: dense, as the stages after pruning (recover, cluster, quantize) need.
    bool sparse_storage = true;
};

struct MagnitudePruneReport {
    uint64_t size_in = 0, size_out = 0;
    struct Tensor {
        std::string name;
        int64_t n = 0, zeros = 0;
        bool sparse = false;  // stored as mask + non-zeros
    };
    std::vector<Tensor> tensors;  // the pruned ones
};

// Throws ArgumentError for a sparsity outside [0, 1), a quantized or sparse-stored input
// (prune the dense float model), or an output path equal to the input's. The input is only
// read. Sparsity 0 zeroes nothing: it stores an already pruned model's zeros sparse.
MagnitudePruneReport prune_magnitude(const std::string& in_path, const std::string& out_path,
                                     const MagnitudePruneOptions& options);

}  // namespace edgelm
