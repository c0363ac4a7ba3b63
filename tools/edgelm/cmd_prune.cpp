// edgelm prune IN OUT --structured heads|ffn|layers --amount A [--calibration TEXT]:
// removes the least important heads, channels or layers and writes a smaller dense model.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/mapped_file.h"
#include "quant/calibration.h"
#include "quant/structured_prune.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

struct PruneCliOptions {
    std::string in, out, unit, calibration;
    double amount = 0;
    int64_t calibration_tokens = 8192;
    int threads = default_threads();
};

std::string shape(const ModelConfig& c) {
    return std::to_string(c.n_layers) + " layers, " + std::to_string(c.n_heads) + " heads / " +
           std::to_string(c.n_kv_heads) + " kv, ffn " + std::to_string(c.ffn_dim) + ", " +
           std::to_string(c.n_params()) + " parameters";
}

void run_prune(const PruneCliOptions& o) {
    StructuredPruneOptions p;
    p.unit = parse_prune_unit(o.unit);
    p.amount = o.amount;
    CalibrationStats stats;
    if (!o.calibration.empty()) {
        CalibrationParams cp;
        cp.max_tokens = o.calibration_tokens;
        cp.n_threads = o.threads;
        stats = collect_calibration_stats(Model::load(o.in), read_text_file(o.calibration), cp);
        p.calibration = &stats;
    }
    const StructuredPruneReport r = prune_structured(o.in, o.out, p);
    std::printf("before: %s\nafter:  %s\n", shape(r.before).c_str(), shape(r.after).c_str());
    if (!r.removed_layers.empty()) {
        std::printf("removed layers:");
        for (int l : r.removed_layers) std::printf(" %d", l);
        std::printf("\n");
    }
    std::printf("wrote %s: %s -> %s (ranked by %s)\n", o.out.c_str(),
                human_bytes(r.size_in).c_str(), human_bytes(r.size_out).c_str(),
                p.calibration ? "activations on the calibration text" : "weight magnitude");
}

}  // namespace

void add_prune(CLI::App& app) {
    auto o = std::make_shared<PruneCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "prune",
        "Remove the least important heads, FFN channels or layers (a smaller dense model)");
    sub->add_option("input", o->in, "Input GGUF model (f32/f16/bf16: prune before quantizing)")
        ->required();
    sub->add_option("output", o->out, "Output GGUF model")->required();
    sub->add_option("--structured", o->unit, "What to remove: heads, ffn or layers")->required();
    sub->add_option("--amount", o->amount, "Fraction of them to remove, in (0, 1)")->required();
    sub->add_option("--calibration", o->calibration,
                    "Text of the target domain: rank by activations on it instead of by weight "
                    "magnitude");
    sub->add_option("--calibration-tokens", o->calibration_tokens,
                    "Tokens of the calibration text to use")
        ->capture_default_str();
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->callback([o] { run_prune(*o); });
}

}  // namespace edgelm::cli
