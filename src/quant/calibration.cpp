#include "quant/calibration.h"

#include <algorithm>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf_keys.h"
#include "runtime/session.h"

namespace edgelm {

namespace {

// One H being summed: n x n doubles, upper triangle only until finished.
struct GramSum {
    int64_t n = 0;
    std::vector<double> h;
};

// h += sum over the m rows x of x x^T (upper triangle). Row i of h is owned by one thread;
// rows are dealt out round-robin since row i has n - i entries.
void add_rows(GramSum& g, const float* rows, int m, ThreadPool& pool) {
    const int64_t n = g.n;
    pool.run_on_all([&](int thread, int n_threads) {
        for (int64_t i = thread; i < n; i += n_threads) {
            double* hi = g.h.data() + i * n;
            for (int t = 0; t < m; ++t) {
                const float* x = rows + static_cast<int64_t>(t) * n;
                const double xi = x[i];
                if (xi == 0) continue;
                for (int64_t j = i; j < n; ++j) hi[j] += xi * static_cast<double>(x[j]);
            }
        }
    });
}

}  // namespace

CalibrationStats collect_calibration_stats(std::shared_ptr<const Model> model,
                                           const std::string& text,
                                           const CalibrationParams& params) {
    const ModelConfig& c = model->config();
    const Tokenizer& tok = model->tokenizer();
    const std::vector<TokenId> ids = tok.encode(text, /*add_bos=*/false);
    const TokenId bos = tok.vocab().bos;
    // A window is [BOS] + text tokens, or text tokens alone for a model without BOS.
    const size_t width = static_cast<size_t>(c.ctx - (bos >= 0 ? 1 : 0));
    if (ids.size() < width)
        throw ArgumentError("the calibration text has " + std::to_string(ids.size()) +
                            " tokens, fewer than the model's context of " + std::to_string(c.ctx) +
                            "; give a longer text (a few thousand tokens of the target domain)");
    if (params.max_tokens < static_cast<int64_t>(width))
        throw ArgumentError("--calibration-tokens must be at least the model's context (" +
                            std::to_string(c.ctx) + ")");

    // Sums per (site, block): layers that share a block share its sums.
    const int blocks = c.blocks();
    const auto slot = [&](int layer, ActivationSite site) {
        return site == ActivationSite::OutputInput
                   ? 4 * blocks
                   : static_cast<int>(site) * blocks + c.block_of_layer(layer);
    };
    std::vector<GramSum> sums(static_cast<size_t>(4 * blocks + 1));
    ThreadPool pool(std::max(1, params.n_threads));
    SessionParams sp;
    sp.n_threads = params.n_threads;
    Session session(model, sp);
    session.set_activation_observer(
        [&](int layer, ActivationSite site, const float* rows, int m, int64_t cols) {
            GramSum& g = sums[static_cast<size_t>(slot(layer, site))];
            if (g.n == 0) {
                g.n = cols;
                g.h.assign(static_cast<size_t>(cols * cols), 0.0);
            }
            add_rows(g, rows, m, pool);
        });

    CalibrationStats stats;
    const size_t used = std::min(ids.size(), static_cast<size_t>(params.max_tokens));
    std::vector<TokenId> window;
    for (size_t start = 0; start + width <= used; start += width) {
        window.clear();
        if (bos >= 0) window.push_back(bos);
        window.insert(window.end(), ids.begin() + static_cast<std::ptrdiff_t>(start),
                      ids.begin() + static_cast<std::ptrdiff_t>(start + width));
        session.reset();
        session.eval(window, /*all_logits=*/true);  // all: the output matrix sees every token
        stats.tokens += static_cast<int64_t>(window.size());
        ++stats.windows;
    }

    std::vector<std::shared_ptr<const std::vector<double>>> finished(sums.size());
    for (size_t s = 0; s < sums.size(); ++s) {
        GramSum& g = sums[s];
        for (int64_t i = 0; i < g.n; ++i)
            for (int64_t j = 0; j < i; ++j) g.h[i * g.n + j] = g.h[j * g.n + i];
        if (g.n > 0) finished[s] = std::make_shared<const std::vector<double>>(std::move(g.h));
    }
    const auto site_of = [&](ActivationSite site, int block) {
        return finished[static_cast<size_t>(static_cast<int>(site) * blocks + block)];
    };
    for (int b = 0; b < blocks; ++b) {
        for (const char* name : {keys::kAttnQ, keys::kAttnK, keys::kAttnV})
            stats.inputs[keys::block_tensor(b, name)] = site_of(ActivationSite::AttentionInput, b);
        stats.inputs[keys::block_tensor(b, keys::kAttnOutput)] =
            site_of(ActivationSite::AttentionOutput, b);
        for (const char* name : {keys::kFfnGate, keys::kFfnUp})
            stats.inputs[keys::block_tensor(b, name)] = site_of(ActivationSite::FfnInput, b);
        stats.inputs[keys::block_tensor(b, keys::kFfnDown)] = site_of(ActivationSite::FfnHidden, b);
    }
    // With a tied output the embedding matrix is the output matrix: its products are what
    // the error should be small on (the lookup reads single rows).
    stats.inputs[c.tied_output ? keys::kTokenEmbd : keys::kOutput] = finished.back();
    return stats;
}

}  // namespace edgelm
