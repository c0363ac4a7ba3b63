// edgelm compare A B -f TEXT: perplexity of both models, mean KL divergence KL(A || B) and
// top-1 agreement over the same scored tokens (what a compression step cost).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/mapped_file.h"
#include "eval/model_comparison.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

struct CompareOptions {
    std::string a, b, file;
    int ctx = 0, stride = 0, threads = default_threads();
    bool json = false;
};

nlohmann::json to_json(const PerplexityResult& r) {
    return {
        {"perplexity", r.perplexity}, {"bits_per_byte", r.bits_per_byte}, {"nll_nats", r.nll_nats}};
}

void run_compare(const CompareOptions& o) {
    auto a = Model::load(o.a);
    auto b = Model::load(o.b);
    const std::string text = read_text_file(o.file);
    PerplexityParams p;
    p.n_ctx = o.ctx;
    p.stride = o.stride;
    p.n_threads = o.threads;
    if (!o.json) p.progress = window_progress();
    const ComparisonResult r = compare_models(a, b, text, p);
    if (o.json) {
        const nlohmann::json j = {{"a", to_json(r.a)},
                                  {"b", to_json(r.b)},
                                  {"mean_kl", r.mean_kl},
                                  {"max_kl", r.max_kl},
                                  {"top1_agreement", r.top1_agreement},
                                  {"tokens", r.a.tokens},
                                  {"bytes", r.a.bytes}};
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    std::printf("A: perplexity %.4f, %.4f bits per byte (%s)\n", r.a.perplexity, r.a.bits_per_byte,
                o.a.c_str());
    std::printf("B: perplexity %.4f, %.4f bits per byte (%s)\n", r.b.perplexity, r.b.bits_per_byte,
                o.b.c_str());
    std::printf(
        "perplexity B/A %+.2f %%, mean KL(A||B) %.5f nats (max %.4f), top-1 agreement "
        "%.2f %% over %lld tokens\n",
        (r.b.perplexity / r.a.perplexity - 1) * 100, r.mean_kl, r.max_kl, r.top1_agreement * 100,
        static_cast<long long>(r.a.tokens));
}

}  // namespace

void add_compare(CLI::App& app) {
    auto o = std::make_shared<CompareOptions>();
    CLI::App* sub = app.add_subcommand(
        "compare", "Perplexity of two models, their mean KL divergence and top-1 agreement");
    sub->add_option("a", o->a, "Reference model (GGUF), e.g. the f32 original")->required();
    sub->add_option("b", o->b, "Model to compare with it (same tokenizer)")->required();
    sub->add_option("-f,--file", o->file, "Text file")->required();
    sub->add_option("--stride", o->stride,
                    "Tokens scored per window, the rest of it is context (0 = windows do not "
                    "overlap)");
    sub->add_option("-c,--ctx", o->ctx, "Window size (0 = the smaller model context)")
        ->capture_default_str();
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_flag("--json", o->json, "Print JSON");
    sub->callback([o] { run_compare(*o); });
}

}  // namespace edgelm::cli
