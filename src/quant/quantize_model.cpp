#include "quant/quantize_model.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "quant/activation_scaling.h"
#include "quant/gptq.h"
#include "quant/output_error.h"
#include "runtime/model_writer.h"
#include "runtime/stored_matrix.h"

namespace edgelm {

namespace {

// Bits per weight, to refuse "upgrading" a file that has already lost precision.
double bits_per_weight(DType t) {
    auto info = storage_info(static_cast<uint32_t>(t));
    return info ? 8.0 * static_cast<double>(info->block_bytes) /
                      static_cast<double>(info->block_size)
                : 0;
}

void require_writable(DType type) {
    if (!type_traits(type).from_float)
        throw ArgumentError(std::string("quantize: edgelm cannot write ") + dtype_name(type) +
                            " yet (q8_0, q6_k, q4_k, q4_0, f16, bf16, f32)");
}

}  // namespace

TensorTypeRule parse_tensor_type_rule(const std::string& rule) {
    const size_t eq = rule.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == rule.size())
        throw ArgumentError("--keep '" + rule +
                            "': expected PATTERN=TYPE, e.g. token_embd.weight=q8_0");
    const std::string type_name = rule.substr(eq + 1);
    const auto type = runnable_dtype_from_name(type_name);
    if (!type)
        throw ArgumentError("--keep '" + rule + "': unknown type '" + type_name +
                            "' (q8_0, q6_k, q4_k, q4_0, f16, bf16, f32)");
    require_writable(*type);
    return {rule.substr(0, eq), *type};
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const QuantizeOptions& options) {
    const DType type = options.type;
    const std::vector<TensorTypeRule>& keep = options.keep;
    require_writable(type);
    require_distinct_output(in_path, out_path);
    GgufFile in(in_path);
    require_plain_matrices(in, "quantize the dense float model");
    QuantizeReport report;
    report.size_in = in.file_size();

    GgufWriter w;
    for (const auto& [key, value] : in.metadata()) {
        if (key == keys::kAlignment) continue;
        w.set(key, value);
    }
    w.set(keys::kFileType, GgufValue::u32(llama_file_type(type)));
    if (type == DType::Q8_0 || type == DType::Q4_0)
        w.set(keys::kQuantizationVersion, GgufValue::u32(2));
    else
        w.remove(keys::kQuantizationVersion);

    std::vector<bool> rule_used(keep.size(), false);
    const auto requested_type = [&](const std::string& name) {
        for (size_t i = 0; i < keep.size(); ++i)
            if (fnmatch(keep[i].pattern.c_str(), name.c_str(), 0) == 0) {
                rule_used[i] = true;
                return keep[i].type;
            }
        return type;
    };
    ThreadPool pool(std::max(1, options.n_threads));
    // GPTQ's factor of each calibration input, computed once for the matrices that share it
    // (q/k/v, gate/up). The producers run one after another inside w.write().
    std::map<const std::vector<double>*, std::vector<double>> factors;
    const auto factor_of = [&factors](const std::vector<double>& h,
                                      int64_t cols) -> const std::vector<double>& {
        auto it = factors.find(&h);
        if (it == factors.end())
            it = factors.emplace(&h, gptq_inverse_factor(h, cols, GptqParams{})).first;
        return it->second;
    };
    ChannelScales scales;
    if (options.calibration && options.activation_scaling)
        scales = choose_channel_scales(in, *options.calibration, requested_type, pool);
    report.scaling_alpha = scales.alpha;
    report.tensors.reserve(in.tensors().size());  // the producers below keep pointers
    for (const GgufTensor& t : in.tensors()) {
        const DType to = storage_type_for(t.dims, requested_type(t.name));
        const TypeTraits* from = find_type_traits(t.type);
        if (!from)
            throw ArgumentError(
                in_path + ": tensor '" + t.name + "' is stored as " + dtype_name(t.type) +
                ", which edgelm cannot decode; quantize from the f32 or f16 original");
        if (t.dims.size() >= 2 && bits_per_weight(t.type) < bits_per_weight(to) && t.type != to)
            throw ArgumentError(
                in_path + ": tensor '" + t.name + "' is already " + dtype_name(t.type) +
                "; converting it to " + dtype_name(to) +
                " cannot restore the precision it lost; quantize from the f32 or f16 original");
        report.tensors.push_back({t.name, t.type, to, t.bytes, 0, 0.0});
        TensorQuantReport* rep = &report.tensors.back();
        const GgufTensor* src = &t;
        const std::vector<double>* h = nullptr;  // the input's H, as the file computes it
        int64_t calibration_tokens = 0;
        if (options.calibration && t.dims.size() == 2) {
            const auto it = options.calibration->inputs.find(t.name);
            if (it != options.calibration->inputs.end() && it->second &&
                it->second->size() == static_cast<size_t>(t.dims[0] * t.dims[0])) {
                h = it->second.get();
                calibration_tokens = options.calibration->tokens;
            }
        }
        // Activation-aware scaling: columns multiplied (GPTQ then sees the scaled input's
        // H), or a norm weight divided.
        const auto col = scales.columns.find(t.name);
        const std::vector<float>* col_scale = col != scales.columns.end() ? &col->second : nullptr;
        const std::vector<double>* scaled_h = col_scale ? scales.inputs.at(t.name).get() : h;
        const auto div = scales.divisors.find(t.name);
        const std::vector<float>* divisor = div != scales.divisors.end() ? &div->second : nullptr;
        w.add_tensor(
            t.name, to, t.dims,
            [src, from, to, rep, h, scaled_h, col_scale, divisor, calibration_tokens, &pool,
             &factor_of] {
                std::vector<float> values(static_cast<size_t>(src->n_elements));
                from->to_float(src->data, values.data(), src->n_elements);
                const int64_t cols = src->dims[0], rows = src->n_elements / cols;
                if (divisor)
                    for (size_t c = 0; c < values.size(); ++c) values[c] /= (*divisor)[c];
                std::vector<float> scaled = values;
                const auto unscale = [&](std::vector<float>& m) {
                    if (col_scale)
                        for (size_t k = 0; k < m.size(); ++k)
                            m[k] /= (*col_scale)[k % static_cast<size_t>(cols)];
                };
                if (col_scale)
                    for (size_t k = 0; k < scaled.size(); ++k)
                        scaled[k] *= (*col_scale)[k % static_cast<size_t>(cols)];
                rep->gptq = scaled_h && gptq_supports(to);
                std::vector<uint8_t> bytes =
                    rep->gptq ? gptq_quantize_with_factor(scaled.data(), rows, cols,
                                                          factor_of(*scaled_h, cols), to, pool)
                              : encode_tensor(scaled.data(), src->n_elements, to);
                // Errors in the original space, against the file's own weights.
                std::vector<float> back(values.size());
                type_traits(to).to_float(bytes.data(), back.data(), src->n_elements);
                unscale(back);
                double se = 0;
                for (size_t k = 0; k < values.size(); ++k)
                    se += double(values[k] - back[k]) * (values[k] - back[k]);
                rep->rmse = std::sqrt(se / static_cast<double>(values.size()));
                if (h)
                    rep->output_rmse =
                        output_rmse(values, back, rows, cols, *h, calibration_tokens, pool);
                if (h && (rep->gptq || col_scale)) {  // what plain rounding would cost
                    const std::vector<uint8_t> rounded =
                        encode_tensor(values.data(), src->n_elements, to);
                    type_traits(to).to_float(rounded.data(), back.data(), src->n_elements);
                    rep->rounded_output_rmse =
                        output_rmse(values, back, rows, cols, *h, calibration_tokens, pool);
                }
                rep->scaled = col_scale != nullptr;
                rep->bytes_out = bytes.size();
                return bytes;
            });
    }
    for (size_t i = 0; i < keep.size(); ++i)
        if (!rule_used[i])
            throw ArgumentError("--keep '" + keep[i].pattern + "' matches no tensor of " + in_path +
                                "; `edgelm inspect` lists the tensor names");
    w.write(out_path);
    report.size_out = std::filesystem::file_size(out_path);
    return report;
}

}  // namespace edgelm
