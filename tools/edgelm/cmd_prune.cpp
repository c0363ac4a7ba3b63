// edgelm prune IN OUT --sparsity S | --structured heads|ffn|layers --amount A
// [--calibration TEXT] [--recover STEPS --data SHARDS]: zeros the smallest weights, or
// removes the least important heads, channels or layers (a smaller dense model), and
// optionally fine-tunes the result to win back quality.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "quant/calibration.h"
#include "quant/magnitude_prune.h"
#include "quant/structured_prune.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

struct PruneCliOptions {
    std::string in, out, unit, calibration, data, recover_dir;
    double amount = 0, recover_lr = 3e-4;
    std::optional<double> sparsity;
    bool per_tensor = false, embeddings = false, dense = false;
    int64_t recover_steps = 0;
    int64_t calibration_tokens = 8192;
    int threads = default_threads();
};

std::string shape(const ModelConfig& c) {
    return std::to_string(c.n_layers) + " layers, " + std::to_string(c.n_heads) + " heads / " +
           std::to_string(c.n_kv_heads) + " kv, ffn " + std::to_string(c.ffn_dim) + ", " +
           std::to_string(c.n_params()) + " parameters";
}

void prune_structured_and_report(const PruneCliOptions& o, const std::string& pruned);

void print_sparsity(const MagnitudePruneReport& r, const std::string& path, const char* how) {
    int64_t zeros = 0, n = 0;
    size_t sparse = 0;
    for (const auto& t : r.tensors) {
        zeros += t.zeros;
        n += t.n;
        sparse += t.sparse;
    }
    std::printf(
        "wrote %s: %s -> %s, %.1f %% of %lld weights in %zu matrices are zero (%s), "
        "%zu stored sparse\n",
        path.c_str(), human_bytes(r.size_in).c_str(), human_bytes(r.size_out).c_str(),
        100.0 * static_cast<double>(zeros) / static_cast<double>(n), static_cast<long long>(n),
        r.tensors.size(), how, sparse);
}

void run_prune(const PruneCliOptions& o) {
    if (o.unit.empty() == !o.sparsity)
        throw ArgumentError(
            "prune: give either --sparsity S (unstructured) or --structured heads|ffn|layers "
            "--amount A");
    if (o.recover_steps < 0) throw ArgumentError("--recover must be >= 0 steps");
    if (o.recover_steps > 0 && o.data.empty())
        throw ArgumentError(
            "--recover needs --data SHARDS (from `edgelm data prepare` with the "
            "model's tokenizer)");
    // With recovery the pruned model is an intermediate: the trainer starts from it and
    // exports the recovered model to OUT.
    const std::string pruned = o.recover_steps > 0 ? o.out + ".pruned.gguf" : o.out;
    if (o.sparsity) {
        MagnitudePruneOptions m;
        m.sparsity = *o.sparsity;
        m.per_tensor = o.per_tensor;
        m.embeddings = o.embeddings;
        // A recovery reads the pruned model dense; its result is stored sparse below.
        m.sparse_storage = !o.dense && o.recover_steps == 0;
        print_sparsity(prune_magnitude(o.in, pruned, m), pruned,
                       o.per_tensor ? "per-matrix threshold" : "global threshold");
    } else {
        prune_structured_and_report(o, pruned);
    }
    if (o.recover_steps == 0) return;
    const std::string run_dir = o.recover_dir.empty() ? o.out + ".recover" : o.recover_dir;
    std::printf("recovering: %lld training steps from %s (run directory %s)\n",
                static_cast<long long>(o.recover_steps), pruned.c_str(), run_dir.c_str());
    const std::string recovered = o.sparsity && !o.dense ? o.out + ".recovered.gguf" : o.out;
    const int status = run_trainer(
        "train", {"--init-from", pruned, "--keep-pruned", "--data", o.data, "-o", run_dir,
                  "--steps", std::to_string(o.recover_steps), "--lr", std::to_string(o.recover_lr),
                  "--warmup", std::to_string(std::min<int64_t>(20, o.recover_steps / 10)),
                  "--eval-every", "0", "-t", std::to_string(o.threads), "--export", recovered});
    if (status != 0)
        throw Error("recovery training failed (exit status " + std::to_string(status) +
                    "); the pruned model without recovery is " + pruned);
    std::filesystem::remove(pruned);
    if (recovered != o.out) {  // the kept zeros, stored sparse
        MagnitudePruneOptions store;
        store.sparsity = 0;
        store.embeddings = o.embeddings;
        print_sparsity(prune_magnitude(recovered, o.out, store), o.out, "after recovery");
        std::filesystem::remove(recovered);
    }
    std::printf("wrote %s (pruned and recovered)\n", o.out.c_str());
}

void prune_structured_and_report(const PruneCliOptions& o, const std::string& pruned) {
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
    const StructuredPruneReport r = prune_structured(o.in, pruned, p);
    std::printf("before: %s\nafter:  %s\n", shape(r.before).c_str(), shape(r.after).c_str());
    if (!r.removed_layers.empty()) {
        std::printf("removed layers:");
        for (int l : r.removed_layers) std::printf(" %d", l);
        std::printf("\n");
    }
    std::printf("wrote %s: %s -> %s (ranked by %s)\n", pruned.c_str(),
                human_bytes(r.size_in).c_str(), human_bytes(r.size_out).c_str(),
                p.calibration ? "activations on the calibration text" : "weight magnitude");
}

}  // namespace

void add_prune(CLI::App& app) {
    auto o = std::make_shared<PruneCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "prune",
        "Zero the smallest weights (--sparsity), or remove the least important heads, FFN "
        "channels or layers (--structured: a smaller dense model)");
    sub->add_option("input", o->in, "Input GGUF model (f32/f16/bf16: prune before quantizing)")
        ->required();
    sub->add_option("output", o->out, "Output GGUF model")->required();
    sub->add_option("--sparsity", o->sparsity,
                    "Unstructured: set this fraction of the weights, those of least magnitude, "
                    "to zero, in [0, 1)");
    sub->add_flag("--per-tensor", o->per_tensor,
                  "With --sparsity: the fraction in every matrix (default: one global "
                  "threshold)");
    sub->add_flag("--embeddings", o->embeddings,
                  "With --sparsity: prune token_embd/output too (left whole by default)");
    sub->add_flag("--dense", o->dense,
                  "With --sparsity: store every matrix dense (for tools that read the dense "
                  "weights); by default matrices at least half zero are stored as a bit mask and "
                  "their non-zeros, which the runtime runs with its sparse kernel");
    sub->add_option("--structured", o->unit, "What to remove: heads, ffn or layers");
    sub->add_option("--amount", o->amount, "With --structured: fraction to remove, in (0, 1)");
    sub->add_option("--calibration", o->calibration,
                    "Text of the target domain: rank by activations on it instead of by weight "
                    "magnitude");
    sub->add_option("--calibration-tokens", o->calibration_tokens,
                    "Tokens of the calibration text to use")
        ->capture_default_str();
    sub->add_option("--recover", o->recover_steps,
                    "Then fine-tune the pruned model for this many steps on --data to win back "
                    "quality (runs `edgelm train --init-from`)");
    sub->add_option("--data", o->data, "Token shards for --recover");
    sub->add_option("--recover-lr", o->recover_lr, "Learning rate of the recovery")
        ->capture_default_str();
    sub->add_option("--recover-dir", o->recover_dir,
                    "Run directory of the recovery (default OUT.recover)");
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->callback([o] { run_prune(*o); });
}

}  // namespace edgelm::cli
