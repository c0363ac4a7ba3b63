// edgelm perplexity MODEL -f TEXT: perplexity and bits per byte.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/mapped_file.h"
#include "eval/perplexity.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

struct PerplexityOptions {
    std::string model, file;
    std::vector<std::string> lora;
    int ctx = 0, stride = 0, threads = default_threads();
    bool json = false;
};

void run_perplexity(const PerplexityOptions& o) {
    auto model = Model::load(o.model);
    const std::string text = read_text_file(o.file);
    PerplexityParams p;
    p.n_ctx = o.ctx;
    p.stride = o.stride;
    p.n_threads = o.threads;
    p.lora = load_lora_arguments(o.lora, model->config());
    if (!o.json) p.progress = window_progress();
    const PerplexityResult r = evaluate_perplexity(model, text, p);
    if (o.json) {
        nlohmann::json j = {{"perplexity", r.perplexity}, {"bits_per_byte", r.bits_per_byte},
                            {"tokens", r.tokens},         {"bytes", r.bytes},
                            {"windows", r.windows},       {"nll_nats", r.nll_nats}};
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf("perplexity %.4f, %.4f bits per byte (%lld tokens, %lld bytes, %lld windows)\n",
                    r.perplexity, r.bits_per_byte, static_cast<long long>(r.tokens),
                    static_cast<long long>(r.bytes), static_cast<long long>(r.windows));
    }
}

}  // namespace

void add_perplexity(CLI::App& app) {
    auto o = std::make_shared<PerplexityOptions>();
    CLI::App* sub =
        app.add_subcommand("perplexity", "Perplexity and bits per byte over a text file");
    sub->add_option("model", o->model, "GGUF model")->required();
    sub->add_option("-f,--file", o->file, "Text file")->required();
    sub->add_option("--stride", o->stride,
                    "Tokens scored per window, the rest of it is context (0 = windows do not "
                    "overlap)");
    sub->add_option("-c,--ctx", o->ctx, "Window size (0 = the model's context)")
        ->capture_default_str();
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_option("--lora", o->lora, "FILE[:SCALE]: apply a LoRA adapter; repeatable");
    sub->add_flag("--json", o->json, "Print JSON");
    sub->callback([o] { run_perplexity(*o); });
}

}  // namespace edgelm::cli
