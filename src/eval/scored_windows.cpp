#include "eval/scored_windows.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgelm {

ScoredWindows::ScoredWindows(std::vector<TokenId> text_tokens, TokenId bos, int n_ctx, int stride)
    : ids_(std::move(text_tokens)), bos_(bos) {
    if (ids_.size() < 2)
        throw ArgumentError("the text has " + std::to_string(ids_.size()) +
                            " tokens; scoring needs at least two");
    if (n_ctx < 2) throw ArgumentError("--ctx must be at least 2");
    if (stride < 0) throw ArgumentError("--stride must be positive");
    // One slot of every window goes to the token before the scored ones: BOS, or (without
    // BOS) the text token that precedes the window, so no token is lost at window borders.
    width_ = static_cast<size_t>(n_ctx - 1);
    stride_ = stride > 0 ? std::min(width_, static_cast<size_t>(stride)) : width_;
}

int64_t ScoredWindows::count() const {
    return static_cast<int64_t>((ids_.size() + stride_ - 1) / stride_);
}

const ScoredWindow& ScoredWindows::at(int64_t w) {
    // Score ids[start, end); the window reaches back as far as it holds.
    const size_t start = static_cast<size_t>(w) * stride_;
    const size_t end = std::min(ids_.size(), start + stride_);
    const size_t ctx_start = end > width_ ? std::min(start, end - width_) : 0;
    std::vector<TokenId>& t = window_.tokens;
    t.clear();
    bool has_prefix = true;
    if (bos_ >= 0)
        t.push_back(bos_);
    else if (ctx_start > 0)
        t.push_back(ids_[ctx_start - 1]);
    else
        has_prefix = false;  // the text's first token has nothing to be predicted from
    t.insert(t.end(), ids_.begin() + static_cast<std::ptrdiff_t>(ctx_start),
             ids_.begin() + static_cast<std::ptrdiff_t>(end));
    // ids[start] sits at index start - ctx_start + has_prefix and is predicted by the row
    // before it.
    const size_t at_start = start - ctx_start + (has_prefix ? 1 : 0);
    window_.first_scored = at_start > 0 ? at_start - 1 : 0;
    return window_;
}

double log_sum_exp(std::span<const float> logits) {
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (const float v : logits) sum += std::exp(static_cast<double>(v - mx));
    return static_cast<double>(mx) + std::log(sum);
}

double log_softmax_at(std::span<const float> logits, TokenId target) {
    return static_cast<double>(logits[static_cast<size_t>(target)]) - log_sum_exp(logits);
}

}  // namespace edgelm
