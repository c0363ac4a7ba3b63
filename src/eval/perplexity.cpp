#include "eval/perplexity.h"

#include <cmath>

#include "core/error.h"
#include "runtime/session.h"

namespace edgelm {

PerplexityResult evaluate_perplexity(std::shared_ptr<const Model> model, const std::string& text,
                                     const PerplexityParams& params) {
    const Tokenizer& tok = model->tokenizer();
    const std::vector<TokenId> ids = tok.encode(text, /*add_bos=*/false);
    const TokenId bos = tok.vocab().bos;
    if (ids.size() < 2)
        throw ArgumentError("the text has " + std::to_string(ids.size()) +
                            " tokens; perplexity needs at least two");
    SessionParams sp;
    sp.n_ctx = params.n_ctx;
    sp.n_threads = params.n_threads;
    Session session(model, sp);
    if (session.n_ctx() < 2) throw ArgumentError("--ctx must be at least 2");
    // With BOS, a window holds BOS + up to `width` text tokens and can score all of them;
    // without BOS, the first token of a window is context only.
    const size_t width = static_cast<size_t>(session.n_ctx() - (bos >= 0 ? 1 : 0));
    if (params.stride < 0) throw ArgumentError("--stride must be positive");
    const size_t stride =
        params.stride > 0 ? std::min(width, static_cast<size_t>(params.stride)) : width;
    const size_t first_predicted =
        bos >= 0 ? 0 : 1;  // window[i] predicts ids[ctx_start + i + this]
    const int64_t total = static_cast<int64_t>((ids.size() + stride - 1) / stride);

    PerplexityResult r;
    r.bytes = static_cast<int64_t>(text.size());
    const size_t vocab = static_cast<size_t>(model->config().vocab);
    std::vector<TokenId> window;
    for (size_t start = 0; start < ids.size(); start += stride) {
        // Score ids[start, end); the window reaches back as far as it holds.
        const size_t end = std::min(ids.size(), start + stride);
        const size_t ctx_start = end > width ? std::min(start, end - width) : 0;
        window.clear();
        if (bos >= 0) window.push_back(bos);
        window.insert(window.end(), ids.begin() + static_cast<std::ptrdiff_t>(ctx_start),
                      ids.begin() + static_cast<std::ptrdiff_t>(end));
        session.reset();
        if (window.size() >= 2) {
            std::span<const float> logits = session.eval(window, /*all_logits=*/true);
            for (size_t i = 0; i + 1 < window.size(); ++i) {
                if (ctx_start + i + first_predicted < start) continue;  // context only
                const float* row = logits.data() + i * vocab;
                float mx = row[0];
                for (size_t k = 1; k < vocab; ++k) mx = std::max(mx, row[k]);
                double sum = 0;
                for (size_t k = 0; k < vocab; ++k)
                    sum += std::exp(static_cast<double>(row[k] - mx));
                const double logp = static_cast<double>(row[window[i + 1]] - mx) - std::log(sum);
                r.nll_nats -= logp;
                ++r.tokens;
            }
        }
        ++r.windows;
        if (params.progress) params.progress(r.windows, total);
    }
    if (r.tokens == 0)
        throw ArgumentError("no token of the text could be scored; use a longer text");
    r.perplexity = std::exp(r.nll_nats / static_cast<double>(r.tokens));
    r.bits_per_byte = r.nll_nats / std::log(2.0) / static_cast<double>(r.bytes);
    return r;
}

}  // namespace edgelm
