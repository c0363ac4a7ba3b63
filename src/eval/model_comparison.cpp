#include "eval/model_comparison.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "eval/scored_windows.h"
#include "runtime/session.h"

namespace edgelm {

namespace {

void require_same_vocabulary(const Model& a, const Model& b) {
    const Vocabulary& va = a.tokenizer().vocab();
    const Vocabulary& vb = b.tokenizer().vocab();
    if (va.tokens.size() != vb.tokens.size())
        throw ArgumentError("the models have different vocabularies (" +
                            std::to_string(va.tokens.size()) + " and " +
                            std::to_string(vb.tokens.size()) +
                            " tokens); comparing needs two models with one tokenizer");
    for (size_t i = 0; i < va.tokens.size(); ++i)
        if (va.tokens[i] != vb.tokens[i])
            throw ArgumentError("the models' vocabularies differ at token " + std::to_string(i) +
                                " ('" + va.tokens[i] + "' and '" + vb.tokens[i] +
                                "'); comparing needs two models with one tokenizer");
    if (va.bos != vb.bos || va.model != vb.model)
        throw ArgumentError(
            "the models' tokenizers differ (type or BOS token); comparing needs "
            "two models with one tokenizer");
}

// log-probabilities of a logits row, in double.
void log_softmax(std::span<const float> logits, std::vector<double>& out) {
    const double lse = log_sum_exp(logits);
    out.resize(logits.size());
    for (size_t k = 0; k < logits.size(); ++k) out[k] = static_cast<double>(logits[k]) - lse;
}

void finish(PerplexityResult& r, int64_t bytes, int64_t windows) {
    r.bytes = bytes;
    r.windows = windows;
    r.perplexity = std::exp(r.nll_nats / static_cast<double>(r.tokens));
    r.bits_per_byte = r.nll_nats / std::log(2.0) / static_cast<double>(r.bytes);
}

}  // namespace

ComparisonResult compare_models(std::shared_ptr<const Model> a, std::shared_ptr<const Model> b,
                                const std::string& text, const PerplexityParams& params) {
    require_same_vocabulary(*a, *b);
    SessionParams sp;
    sp.n_ctx = params.n_ctx > 0 ? params.n_ctx : std::min(a->config().ctx, b->config().ctx);
    sp.n_threads = params.n_threads;
    Session sa(a, sp), sb(b, sp);
    const Tokenizer& tok = a->tokenizer();
    ScoredWindows windows(tok.encode(text, /*add_bos=*/false), tok.vocab().bos, sa.n_ctx(),
                          params.stride);
    const size_t vocab = static_cast<size_t>(a->config().vocab);
    ComparisonResult r;
    double kl_sum = 0;
    int64_t agree = 0, scored = 0;
    std::vector<double> la, lb;
    const int64_t total = windows.count();
    for (int64_t w = 0; w < total; ++w) {
        const ScoredWindow& win = windows.at(w);
        if (win.tokens.size() < 2) continue;
        sa.reset();
        sb.reset();
        const std::span<const float> logits_a = sa.eval(win.tokens, /*all_logits=*/true);
        const std::span<const float> logits_b = sb.eval(win.tokens, /*all_logits=*/true);
        for (size_t i = win.first_scored; i + 1 < win.tokens.size(); ++i) {
            const std::span<const float> ra = logits_a.subspan(i * vocab, vocab);
            const std::span<const float> rb = logits_b.subspan(i * vocab, vocab);
            log_softmax(ra, la);
            log_softmax(rb, lb);
            const auto target = static_cast<size_t>(win.tokens[i + 1]);
            r.a.nll_nats -= la[target];
            r.b.nll_nats -= lb[target];
            double kl = 0;
            for (size_t k = 0; k < vocab; ++k) kl += std::exp(la[k]) * (la[k] - lb[k]);
            kl = std::max(kl, 0.0);  // rounding can leave -1e-17 for identical rows
            kl_sum += kl;
            r.max_kl = std::max(r.max_kl, kl);
            agree += std::max_element(ra.begin(), ra.end()) - ra.begin() ==
                     std::max_element(rb.begin(), rb.end()) - rb.begin();
            ++scored;
        }
        if (params.progress) params.progress(w + 1, total);
    }
    if (scored == 0) throw ArgumentError("no token of the text could be scored; use a longer text");
    r.a.tokens = r.b.tokens = scored;
    finish(r.a, static_cast<int64_t>(text.size()), total);
    finish(r.b, static_cast<int64_t>(text.size()), total);
    r.mean_kl = kl_sum / static_cast<double>(scored);
    r.top1_agreement = static_cast<double>(agree) / static_cast<double>(scored);
    return r;
}

}  // namespace edgelm
