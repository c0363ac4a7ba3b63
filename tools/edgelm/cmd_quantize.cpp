// edgelm quantize IN OUT --type T: round-to-nearest requantization in ggml layouts.
#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "quant/quantize_model.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

struct QuantizeCliOptions {
    std::string in, out, type;
    std::vector<std::string> keep;
    std::string calibration;
    int64_t calibration_tokens = 8192;
    int threads = default_threads();
    bool verbose = false;
    bool no_activation_scaling = false;
};

void run_quantize(const QuantizeCliOptions& o) {
    auto type = runnable_dtype_from_name(o.type);
    if (!type)
        throw ArgumentError("quantize: unknown --type '" + o.type +
                            "' (q8_0, q6_k, q4_k, q4_0, f16, bf16, f32)");
    QuantizeOptions q(*type);
    q.n_threads = o.threads;
    for (const std::string& k : o.keep) q.keep.push_back(parse_tensor_type_rule(k));
    CalibrationStats stats;
    if (!o.calibration.empty()) {
        const auto t0 = std::chrono::steady_clock::now();
        stats =
            collect_calibration_stats(Model::load(o.in), read_text_file(o.calibration),
                                      {.max_tokens = o.calibration_tokens, .n_threads = o.threads});
        std::fprintf(stderr, "calibration: %lld tokens in %lld windows of %s (%.1f s)\n",
                     static_cast<long long>(stats.tokens), static_cast<long long>(stats.windows),
                     o.calibration.c_str(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        q.calibration = &stats;
    }
    q.activation_scaling = !o.no_activation_scaling;
    const QuantizeReport r = quantize_model(o.in, o.out, q);
    if (o.verbose && !r.scaling_alpha.empty()) {
        std::printf("activation scaling alpha (0 = none):");
        for (const auto& [norm, alpha] : r.scaling_alpha)
            std::printf(" %s %.1f", norm.c_str(), alpha);
        std::printf("\n");
    }
    if (o.verbose)
        for (const auto& t : r.tensors) {
            std::printf("  %-32s %-5s -> %-5s %10llu -> %10llu bytes, rmse %.3g", t.name.c_str(),
                        dtype_name(t.from), dtype_name(t.to),
                        static_cast<unsigned long long>(t.bytes_in),
                        static_cast<unsigned long long>(t.bytes_out), t.rmse);
            if (t.output_rmse > 0) std::printf(", output rmse %.3g", t.output_rmse);
            if (t.gptq || t.scaled)
                std::printf(" (%s%s; rounding: %.3g)", t.scaled ? "scaled" : "",
                            t.gptq ? (t.scaled ? " + gptq" : "gptq") : "", t.rounded_output_rmse);
            std::printf("\n");
        }
    std::printf("wrote %s: %s -> %s (%.2fx smaller)\n", o.out.c_str(),
                human_bytes(r.size_in).c_str(), human_bytes(r.size_out).c_str(),
                static_cast<double>(r.size_in) / static_cast<double>(r.size_out));
}

}  // namespace

void add_quantize(CLI::App& app) {
    auto o = std::make_shared<QuantizeCliOptions>();
    CLI::App* sub = app.add_subcommand("quantize",
                                       "Requantize a model's weights in ggml layouts (round to "
                                       "nearest, or GPTQ with --calibration)");
    sub->add_option("input", o->in, "Input GGUF model")->required();
    sub->add_option("output", o->out, "Output GGUF model")->required();
    sub->add_option("--type", o->type, "q8_0, q6_k, q4_k, q4_0, f16, bf16 or f32")->required();
    sub->add_option("--keep", o->keep,
                    "PATTERN=TYPE: store tensors whose names match the glob at TYPE instead "
                    "(e.g. token_embd.weight=q8_0); repeatable, the first match wins");
    sub->add_option("--calibration", o->calibration,
                    "Text of the target domain: with the inputs the runtime computes on it, scale "
                    "the channels of normed inputs (AWQ) and quantize q4_0/q8_0 matrices by "
                    "GPTQ instead of rounding to nearest");
    sub->add_flag("--no-activation-scaling", o->no_activation_scaling,
                  "With --calibration: GPTQ only, no channel scaling");
    sub->add_option("--calibration-tokens", o->calibration_tokens,
                    "Tokens of the calibration text to use (from its start)")
        ->capture_default_str();
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_flag("-v,--verbose", o->verbose, "Print per-tensor sizes and error");
    sub->callback([o] { run_quantize(*o); });
}

}  // namespace edgelm::cli
