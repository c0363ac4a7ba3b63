// Perplexity and bits per byte of a model over a text.
//
// The text is tokenized once (no BOS) and scored in windows, each run from a fresh context
// that starts with BOS; every token of the text is scored exactly once. By default the
// windows do not overlap (n_ctx - 1 tokens each; the first token of a window is predicted
// from BOS alone, so a token sees n_ctx / 2 tokens of context on average). With a stride S
// each window scores only its last S tokens and fills the rest with the tokens before them,
// so every token after the first window sees at least n_ctx - 1 - S tokens of context (as
// llama.cpp's perplexity and sliding-window evaluations do), at n_ctx / S times the cost. Bits per
// byte divides the total negative log-likelihood in bits by the text's UTF-8 bytes, so
// models with different tokenizers compare fairly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

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
    // Called after each window with (windows done, windows total).
    std::function<void(int64_t, int64_t)> progress;
};

// Throws ArgumentError if the text has fewer than two tokens.
PerplexityResult evaluate_perplexity(std::shared_ptr<const Model> model, const std::string& text,
                                     const PerplexityParams& params);

}  // namespace edgelm
