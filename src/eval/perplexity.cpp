#include "eval/perplexity.h"

#include <cmath>

#include "core/error.h"
#include "eval/scored_windows.h"
#include "runtime/session.h"

namespace edgelm {

PerplexityResult evaluate_perplexity(std::shared_ptr<const Model> model, const std::string& text,
                                     const PerplexityParams& params) {
    const Tokenizer& tok = model->tokenizer();
    SessionParams sp;
    sp.n_ctx = params.n_ctx;
    sp.n_threads = params.n_threads;
    sp.lora = params.lora;
    Session session(model, sp);
    ScoredWindows windows(tok.encode(text, /*add_bos=*/false), tok.vocab().bos, session.n_ctx(),
                          params.stride);
    PerplexityResult r;
    r.bytes = static_cast<int64_t>(text.size());
    const size_t vocab = static_cast<size_t>(model->config().vocab);
    const int64_t total = windows.count();
    for (int64_t w = 0; w < total; ++w) {
        const ScoredWindow& win = windows.at(w);
        session.reset();
        if (win.tokens.size() >= 2) {
            std::span<const float> logits = session.eval(win.tokens, /*all_logits=*/true);
            for (size_t i = win.first_scored; i + 1 < win.tokens.size(); ++i) {
                r.nll_nats -= log_softmax_at(logits.subspan(i * vocab, vocab), win.tokens[i + 1]);
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
