// How a text is cut into model windows for scoring (perplexity, model comparison).
//
// The text is tokenized once (no BOS) and scored in windows, each run from a fresh context
// that starts with BOS; every token of the text is scored exactly once. By default the
// windows do not overlap (n_ctx - 1 tokens each; the first token of a window is predicted
// from BOS alone, so a token sees n_ctx / 2 tokens of context on average). With a stride S
// each window scores only its last S tokens and fills the rest with the tokens before them,
// so every token after the first window sees at least n_ctx - 1 - S tokens of context (as
// llama.cpp's perplexity and sliding-window evaluations do), at n_ctx / S times the cost.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace edgelm {

struct ScoredWindow {
    std::vector<TokenId> tokens;  // what the model runs: [BOS] + text tokens
    // Logits row i of the window predicts tokens[i + 1]; rows [first_scored, tokens.size() - 1)
    // are scored, the rows before them are context only.
    size_t first_scored = 0;
};

class ScoredWindows {
  public:
    // bos < 0: the model has no BOS token, and a window's first token is context only.
    // Throws ArgumentError if n_ctx < 2, stride < 0 or the text has fewer than two tokens.
    ScoredWindows(std::vector<TokenId> text_tokens, TokenId bos, int n_ctx, int stride);

    int64_t count() const;
    // Window w < count(); the returned tokens are valid until the next call.
    const ScoredWindow& at(int64_t w);

  private:
    std::vector<TokenId> ids_;
    TokenId bos_;
    size_t width_, stride_;
    ScoredWindow window_;
};

// log(sum(exp(logits))), in double and without overflow: the softmax's log-normaliser.
double log_sum_exp(std::span<const float> logits);
// log-softmax of `logits` at `target`, in double.
double log_softmax_at(std::span<const float> logits, TokenId target);

}  // namespace edgelm
