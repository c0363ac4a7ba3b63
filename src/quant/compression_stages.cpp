#include "quant/compression_stages.h"

#include <cstdlib>

#include "core/error.h"
#include "core/split.h"

namespace edgelm {

namespace {

[[noreturn]] void bad(const std::string& stage, const std::string& why) {
    throw ArgumentError(
        "--stages: '" + stage + "': " + why +
        " (stages: prune:S, prune:ffn|heads|layers:A, recover:STEPS, quantize:TYPE, "
        "cluster:BITS[:RATE])");
}

double parse_number(const std::string& stage, const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') bad(stage, "'" + text + "' is not a number");
    return v;
}

}  // namespace

std::vector<CompressionStage> parse_compression_stages(const std::string& spec) {
    std::vector<CompressionStage> stages;
    bool quantized = false, clustered = false;
    for (const std::string& text : split_fields(spec, ',')) {
        const std::vector<std::string> f = split_fields(text, ':');
        if (f.empty() || f[0].empty()) bad(text, "an empty stage");
        CompressionStage s{StageKind::Prune, text};
        if (f[0] == "prune") {
            if (f.size() == 2) {  // unstructured: prune:S
                s.unstructured = true;
                s.amount = parse_number(text, f[1]);
                if (!(s.amount >= 0 && s.amount < 1)) bad(text, "the sparsity must be in [0, 1)");
            } else {
                if (f.size() != 3) bad(text, "expected prune:S or prune:ffn|heads|layers:A");
                try {
                    s.unit = parse_prune_unit(f[1]);
                } catch (const ArgumentError& e) {
                    bad(text, e.what());
                }
                s.amount = parse_number(text, f[2]);
                if (!(s.amount > 0 && s.amount < 1)) bad(text, "the amount must be in (0, 1)");
            }
        } else if (f[0] == "recover") {
            if (f.size() != 2) bad(text, "expected recover:STEPS");
            s.kind = StageKind::Recover;
            const double steps = parse_number(text, f[1]);
            if (steps < 1 || steps != static_cast<double>(static_cast<int64_t>(steps)))
                bad(text, "the steps must be a positive whole number");
            s.steps = static_cast<int64_t>(steps);
        } else if (f[0] == "quantize") {
            if (f.size() != 2) bad(text, "expected quantize:TYPE");
            s.kind = StageKind::Quantize;
            const auto type = runnable_dtype_from_name(f[1]);
            if (!type || !type_traits(*type).from_float)
                bad(text, "unknown or unwritable type '" + f[1] + "' (q8_0, q4_0, f16, bf16)");
            s.type = *type;
        } else if (f[0] == "cluster") {
            if (f.size() != 2 && f.size() != 3)
                bad(text, "expected cluster:BITS or cluster:BITS:RATE");
            s.kind = StageKind::Cluster;
            const double bits = parse_number(text, f[1]);
            if (bits < 1 || bits > 8 || bits != static_cast<double>(static_cast<int>(bits)))
                bad(text, "the bits must be a whole number in 1..8");
            s.bits = static_cast<int>(bits);
            if (f.size() == 3) {
                s.rate = parse_number(text, f[2]);
                if (!(s.rate > 0 && s.rate < s.bits)) bad(text, "the rate must be in (0, BITS)");
            }
        } else {
            bad(text, "unknown stage '" + f[0] + "'");
        }
        if (clustered) bad(text, "comes after the cluster stage, which must be the last");
        if (quantized && s.kind != StageKind::Quantize)
            bad(text,
                "comes after a quantize stage; prune, recover and cluster need float weights, "
                "so put quantize last");
        quantized = quantized || (s.kind == StageKind::Quantize && s.type != DType::F32 &&
                                  s.type != DType::F16 && s.type != DType::BF16);
        clustered = clustered || s.kind == StageKind::Cluster;
        stages.push_back(s);
    }
    if (stages.empty()) throw ArgumentError("--stages is empty");
    return stages;
}

}  // namespace edgelm
