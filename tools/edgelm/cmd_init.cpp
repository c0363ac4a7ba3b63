// edgelm init: a model with random weights, for tests and benchmarks.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "runtime/random_model.h"

namespace edgelm::cli {

namespace {

struct InitOptions {
    std::string preset, type = "f32", out;
    int dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0, ctx = 0;
    uint64_t seed = 42;
};

void run_init(const InitOptions& o) {
    const bool shape_given =
        o.dim || o.layers || o.heads || o.kv_heads || o.ffn || o.vocab || o.ctx;
    if (!o.preset.empty() && shape_given)
        throw ArgumentError("init: give either --preset or shape flags (--dim ...), not both");
    ModelConfig c;
    if (!o.preset.empty()) {
        c = preset_config(o.preset);
    } else {
        if (!o.dim || !o.layers || !o.heads || !o.ffn || !o.vocab || !o.ctx)
            throw ArgumentError(
                "init: give --preset, or all of --dim --layers --heads --ffn --vocab --ctx");
        if (o.dim % o.heads != 0)
            throw ArgumentError("init: --dim " + std::to_string(o.dim) +
                                " is not a multiple of --heads " + std::to_string(o.heads));
        c = ModelConfig::llama(o.dim, o.layers, o.heads, o.kv_heads ? o.kv_heads : o.heads, o.ffn,
                               o.vocab, o.ctx, true);
    }
    auto type = runnable_dtype_from_name(o.type);
    if (!type)
        throw ArgumentError("init: unknown --type '" + o.type + "' (f32, f16, bf16, q8_0, q4_0)");
    write_random_model(o.out, c, *type, o.seed);
    std::printf("wrote %s: %.2f M parameters, %s\n", o.out.c_str(),
                static_cast<double>(c.n_params()) / 1e6, o.type.c_str());
}

}  // namespace

void add_init(CLI::App& app) {
    auto o = std::make_shared<InitOptions>();
    CLI::App* sub = app.add_subcommand(
        "init", "Write a llama GGUF model with random weights (N(0, 0.02), norms 1)");
    sub->add_option("--preset", o->preset, "llama2.c TinyStories shape: 260k, 15m, 42m, 110m");
    sub->add_option("--dim", o->dim, "Embedding width");
    sub->add_option("--layers", o->layers, "Transformer blocks");
    sub->add_option("--heads", o->heads, "Attention heads");
    sub->add_option("--kv-heads", o->kv_heads, "Key/value heads (default: --heads)");
    sub->add_option("--ffn", o->ffn, "Feed-forward hidden width");
    sub->add_option("--vocab", o->vocab, "Vocabulary size (>= 259)");
    sub->add_option("--ctx", o->ctx, "Context length");
    sub->add_option("--type", o->type, "Weight type: f32, f16, bf16, q8_0, q4_0")
        ->capture_default_str();
    sub->add_option("--seed", o->seed, "Random seed")->capture_default_str();
    sub->add_option("-o,--output", o->out, "Output GGUF file")->required();
    sub->callback([o] { run_init(*o); });
}

}  // namespace edgelm::cli
