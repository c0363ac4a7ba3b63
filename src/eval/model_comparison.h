// How far a model B (quantized, pruned, distilled...) is from a model A over a text:
// the perplexity of both, the mean KL divergence KL(P_A || P_B) of their next-token
// distributions and how often their most likely next tokens agree (top-1 agreement).
// Both run the same windows (src/eval/scored_windows.h), so every figure covers the same
// scored tokens. The models must share a tokenizer: the same vocabulary, token for token.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "eval/perplexity.h"

namespace edgelm {

class Model;

struct ComparisonResult {
    PerplexityResult a, b;
    double mean_kl = 0;         // nats per scored token, KL(P_A || P_B)
    double max_kl = 0;          // the largest of one token
    double top1_agreement = 0;  // share of scored tokens whose argmax is the same
};

// params.n_ctx = 0 uses the smaller of the two models' contexts. Throws ArgumentError if
// the vocabularies differ or the text is too short to score.
ComparisonResult compare_models(std::shared_ptr<const Model> a, std::shared_ptr<const Model> b,
                                const std::string& text, const PerplexityParams& params);

}  // namespace edgelm
