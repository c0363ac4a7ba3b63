// Perplexity and bits per byte of a model over a text.
//
// The text is cut into windows as src/eval/scored_windows.h describes (every token scored
// once; --stride for overlapping windows with more context). Bits per
// byte divides the total negative log-likelihood in bits by the text's UTF-8 bytes, so
// models with different tokenizers compare fairly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/lora_adapter.h"

namespace edgelm {

class Model;

struct PerplexityResult {
    double perplexity = 0;
    double bits_per_byte = 0;
    double nll_nats = 0;  // total negative log-likelihood
    int64_t tokens = 0;   // tokens scored
    int64_t bytes = 0;
    int64_t windows = 0;
};

struct PerplexityParams {
    int n_ctx = 0;   // 0 = the model's context
    int stride = 0;  // tokens scored per window; 0 = non-overlapping windows
    int n_threads = 1;
    std::vector<LoraBinding> lora;  // adapters on top of the model (runtime/lora_adapter.h)
    // Called after each window with (windows done, windows total).
    std::function<void(int64_t, int64_t)> progress;
};

// Throws ArgumentError if the text has fewer than two tokens.
PerplexityResult evaluate_perplexity(std::shared_ptr<const Model> model, const std::string& text,
                                     const PerplexityParams& params);

}  // namespace edgelm
