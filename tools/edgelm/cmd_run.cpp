// edgelm run MODEL -p PROMPT: generate text, streamed to stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "runtime/session.h"

namespace edgelm::cli {

namespace {

struct RunOptions {
    std::string model, prompt, prompt_cache;
    std::vector<std::string> lora;
    int n_predict = 128, threads = default_threads(), ctx = 0;
    SamplerParams sampler;
    bool no_bos = false, stats = false, no_repack = false;
};

void run_run(const RunOptions& o) {
    ModelLoadOptions load;
    load.group_rows = !o.no_repack;
    auto model = Model::load(o.model, load);
    SessionParams sp;
    sp.n_ctx = o.ctx;
    sp.n_threads = o.threads;
    sp.sampler = o.sampler;
    sp.lora = load_lora_arguments(o.lora, model->config());
    if (o.n_predict < 0) throw ArgumentError("run: -n must be >= 0");
    Session session(model, sp);
    const Tokenizer& tok = model->tokenizer();
    std::vector<TokenId> prompt = tok.encode(o.prompt, !o.no_bos && tok.vocab().add_bos);
    if (prompt.empty()) throw ArgumentError("run: the prompt is empty; pass -p TEXT");
    if (static_cast<int>(prompt.size()) > session.n_ctx())
        throw ArgumentError("run: the prompt has " + std::to_string(prompt.size()) +
                            " tokens, more than the context of " + std::to_string(session.n_ctx()) +
                            "; shorten it or raise --ctx");

    auto t0 = std::chrono::steady_clock::now();
    // Prompt cache: reuse the saved state's longest common prefix with this prompt.
    size_t reuse = 0;
    if (!o.prompt_cache.empty() && std::filesystem::exists(o.prompt_cache)) {
        session.load_state(o.prompt_cache);
        const auto& saved = session.tokens();
        while (reuse < saved.size() && reuse < prompt.size() && saved[reuse] == prompt[reuse])
            ++reuse;
        reuse = std::min(reuse, prompt.size() - 1);  // re-run the last token for its logits
        session.truncate(static_cast<int>(reuse));
    }
    session.eval(std::span<const TokenId>(prompt).subspan(reuse));
    if (!o.prompt_cache.empty()) session.save_state(o.prompt_cache);
    const double prompt_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    std::fputs(o.prompt.c_str(), stdout);
    std::fflush(stdout);
    auto g0 = std::chrono::steady_clock::now();
    int generated = 0;
    const int budget = std::min(o.n_predict, session.n_ctx() - session.position());
    for (; generated < budget; ++generated) {
        const TokenId next = session.sample();
        if (next == tok.vocab().eos) break;
        std::fputs(tok.token_to_piece(next).c_str(), stdout);
        std::fflush(stdout);
        if (generated + 1 < budget) session.eval(std::span<const TokenId>(&next, 1));
    }
    std::fputc('\n', stdout);
    const double gen_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g0).count();
    if (o.stats)
        std::fprintf(stderr,
                     "prompt: %zu tokens (%zu from cache) in %.1f ms; generated %d tokens in %.1f "
                     "ms (%.1f tok/s)\n",
                     prompt.size(), reuse, prompt_ms, generated, gen_ms,
                     generated > 0 ? generated / (gen_ms / 1000.0) : 0.0);
}

}  // namespace

void add_run(CLI::App& app) {
    auto o = std::make_shared<RunOptions>();
    CLI::App* sub = app.add_subcommand("run", "Generate text from a prompt");
    sub->add_option("model", o->model, "GGUF model")->required();
    sub->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
    sub->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")->capture_default_str();
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_option("--lora", o->lora,
                    "FILE[:SCALE]: apply a LoRA adapter (llama.cpp's GGUF layout) on top of the "
                    "model; repeatable");
    sub->add_option("-c,--ctx", o->ctx, "Context size (0 = the model's)")->capture_default_str();
    sub->add_option("--temp", o->sampler.temperature, "Temperature (0 = greedy)")
        ->capture_default_str();
    sub->add_option("--top-k", o->sampler.top_k, "Top-k (0 = off)")->capture_default_str();
    sub->add_option("--top-p", o->sampler.top_p, "Top-p (1 = off)")->capture_default_str();
    sub->add_option("--min-p", o->sampler.min_p, "Min-p (0 = off)")->capture_default_str();
    sub->add_option("--repeat-penalty", o->sampler.repeat_penalty, "Repetition penalty (1 = off)")
        ->capture_default_str();
    sub->add_option("--repeat-last-n", o->sampler.repeat_last_n, "Tokens the penalty looks back")
        ->capture_default_str();
    sub->add_option("-s,--seed", o->sampler.seed, "Sampling seed")->capture_default_str();
    sub->add_option("--prompt-cache", o->prompt_cache,
                    "Session state file: reused when the prompt starts the same, then updated");
    sub->add_flag("--no-bos", o->no_bos, "Do not add the BOS token");
    sub->add_flag("--stats", o->stats, "Print timings to stderr");
    sub->add_flag("--no-repack", o->no_repack,
                  "Run the weights as stored in the file: starts faster (no copy), decodes "
                  "slower");
    sub->callback([o] { run_run(*o); });
}

}  // namespace edgelm::cli
