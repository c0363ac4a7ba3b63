// edgelm quantize IN OUT --type T: round-to-nearest requantization in ggml layouts.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "quant/quantize_model.h"

namespace edgelm::cli {

namespace {

struct QuantizeOptions {
    std::string in, out, type;
    std::vector<std::string> keep;
    bool verbose = false;
};

void run_quantize(const QuantizeOptions& o) {
    auto type = runnable_dtype_from_name(o.type);
    if (!type)
        throw ArgumentError("quantize: unknown --type '" + o.type +
                            "' (q8_0, q4_0, f16, bf16, f32)");
    std::vector<TensorTypeRule> rules;
    for (const std::string& k : o.keep) rules.push_back(parse_tensor_type_rule(k));
    const QuantizeReport r = quantize_model(o.in, o.out, *type, rules);
    if (o.verbose)
        for (const auto& t : r.tensors)
            std::printf("  %-32s %-5s -> %-5s %10llu -> %10llu bytes, rmse %.3g\n", t.name.c_str(),
                        dtype_name(t.from), dtype_name(t.to),
                        static_cast<unsigned long long>(t.bytes_in),
                        static_cast<unsigned long long>(t.bytes_out), t.rmse);
    std::printf("wrote %s: %s -> %s (%.2fx smaller)\n", o.out.c_str(),
                human_bytes(r.size_in).c_str(), human_bytes(r.size_out).c_str(),
                static_cast<double>(r.size_in) / static_cast<double>(r.size_out));
}

}  // namespace

void add_quantize(CLI::App& app) {
    auto o = std::make_shared<QuantizeOptions>();
    CLI::App* sub = app.add_subcommand(
        "quantize", "Requantize a model's weights (round to nearest, ggml layouts)");
    sub->add_option("input", o->in, "Input GGUF model")->required();
    sub->add_option("output", o->out, "Output GGUF model")->required();
    sub->add_option("--type", o->type, "q8_0, q4_0, f16, bf16 or f32")->required();
    sub->add_option("--keep", o->keep,
                    "PATTERN=TYPE: store tensors whose names match the glob at TYPE instead "
                    "(e.g. token_embd.weight=q8_0); repeatable, the first match wins");
    sub->add_flag("-v,--verbose", o->verbose, "Print per-tensor sizes and error");
    sub->callback([o] { run_quantize(*o); });
}

}  // namespace edgelm::cli
