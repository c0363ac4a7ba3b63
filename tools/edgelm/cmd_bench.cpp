// edgelm bench MODEL: prefill/decode throughput, latency percentiles, RSS, size.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "bench/bench_runner.h"
#include "commands.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

nlohmann::json stats_json(const RunStats& s) {
    return {{"median", s.median}, {"mean", s.mean}, {"sd", s.sd}};
}

void run_bench_cmd(const std::string& path, BenchParams p, const std::vector<std::string>& lora,
                   const ModelLoadOptions& load, bool json) {
    auto model = Model::load(path, load);
    p.lora = load_lora_arguments(lora, model->config());
    const BenchResult r = run_bench(model, p);
    if (json) {
        nlohmann::json j = {
            {"model", path},
            {"prefill_tok_s", stats_json(r.prefill_tok_s)},
            {"decode_tok_s", stats_json(r.decode_tok_s)},
            {"ttft_ms", r.ttft_ms},
            {"decode_latency_ms",
             {{"p50", r.latency_p50_ms}, {"p95", r.latency_p95_ms}, {"p99", r.latency_p99_ms}}},
            {"peak_rss_bytes", r.peak_rss_bytes},
            {"size_bytes", r.size_bytes},
            {"threads", r.threads},
            {"n_prompt", r.n_prompt},
            {"n_gen", r.n_gen},
            {"reps", r.reps},
            {"lora", lora}};
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    std::printf("model      %s (%s)\n", path.c_str(), human_bytes(r.size_bytes).c_str());
    for (const std::string& a : lora) std::printf("lora       %s\n", a.c_str());
    std::printf("threads    %d, prompt %d, generate %d, reps %d\n", r.threads, r.n_prompt, r.n_gen,
                r.reps);
    std::printf("prefill    %.1f tok/s (median; mean %.1f ± %.1f)\n", r.prefill_tok_s.median,
                r.prefill_tok_s.mean, r.prefill_tok_s.sd);
    std::printf("decode     %.1f tok/s (median; mean %.1f ± %.1f)\n", r.decode_tok_s.median,
                r.decode_tok_s.mean, r.decode_tok_s.sd);
    std::printf("ttft       %.2f ms\n", r.ttft_ms);
    std::printf("latency    p50 %.3f ms, p95 %.3f ms, p99 %.3f ms per token\n", r.latency_p50_ms,
                r.latency_p95_ms, r.latency_p99_ms);
    std::printf("peak rss   %s\n", human_bytes(r.peak_rss_bytes).c_str());
}

}  // namespace

void add_bench(CLI::App& app) {
    auto p = std::make_shared<BenchParams>();
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto load = std::make_shared<ModelLoadOptions>();
    auto lora = std::make_shared<std::vector<std::string>>();
    p->n_threads = default_threads();
    CLI::App* sub =
        app.add_subcommand("bench", "Measure prefill and decode speed, latency and memory");
    sub->add_option("model", *path, "GGUF model")->required();
    sub->add_option("-p,--n-prompt", p->n_prompt, "Prompt tokens")->capture_default_str();
    sub->add_option("-n,--n-gen", p->n_gen, "Generated tokens")->capture_default_str();
    sub->add_option("-r,--reps", p->reps, "Repetitions")->capture_default_str();
    sub->add_option("-t,--threads", p->n_threads, "Threads")->capture_default_str();
    sub->add_flag("--json", *json, "Print JSON");
    sub->add_option("--lora", *lora,
                    "FILE[:SCALE]: measure with a LoRA adapter applied; repeatable");
    sub->add_flag("!--no-repack", load->group_rows,
                  "Run the weights as stored in the file, not repacked into 4-row groups");
    sub->callback([p, path, lora, load, json] { run_bench_cmd(*path, *p, *lora, *load, *json); });
}

}  // namespace edgelm::cli
