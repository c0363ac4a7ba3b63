#include "quant/magnitude_prune.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "runtime/model_writer.h"

namespace edgelm {

namespace {

bool is_embedding(const std::string& name) {
    return name == keys::kTokenEmbd || name == keys::kOutput;
}

// The magnitude below which the fraction `sparsity` of `abs_values` lies (nth_element).
float threshold_of(std::vector<float> abs_values, double sparsity) {
    if (abs_values.empty() || sparsity <= 0) return 0.0f;
    const size_t k = static_cast<size_t>(sparsity * static_cast<double>(abs_values.size()));
    if (k == 0) return 0.0f;
    std::nth_element(abs_values.begin(), abs_values.begin() + static_cast<int64_t>(k - 1),
                     abs_values.end());
    return abs_values[k - 1];
}

}  // namespace

MagnitudePruneReport prune_magnitude(const std::string& in_path, const std::string& out_path,
                                     const MagnitudePruneOptions& o) {
    if (!(o.sparsity >= 0 && o.sparsity < 1))
        throw ArgumentError("prune: --sparsity " + std::to_string(o.sparsity) +
                            " is outside [0, 1)");
    if (std::filesystem::exists(out_path) && std::filesystem::exists(in_path) &&
        std::filesystem::equivalent(in_path, out_path))
        throw ArgumentError("output " + out_path + " is the input file; write to a new file");
    GgufFile in(in_path);
    std::map<std::string, std::vector<float>> pruned;  // tensor -> values
    for (const GgufTensor& t : in.tensors()) {
        if (t.dims.size() != 2 || (!o.embeddings && is_embedding(t.name))) continue;
        if (t.type != DType::F32 && t.type != DType::F16 && t.type != DType::BF16)
            throw ArgumentError(in_path + ": tensor '" + t.name + "' is " + dtype_name(t.type) +
                                "; prune the float model (f32, f16 or bf16) before quantizing");
        std::vector<float>& v = pruned[t.name];
        v.resize(static_cast<size_t>(t.n_elements));
        type_traits(t.type).to_float(t.data, v.data(), t.n_elements);
    }
    if (pruned.empty()) throw ArgumentError(in_path + " has no weight matrices to prune");
    // Ties at the threshold: everything at or below it goes, so the sparsity reached can
    // exceed S by the ties (none in trained float weights).
    std::map<std::string, float> threshold;
    if (o.per_tensor) {
        for (const auto& [name, v] : pruned) {
            std::vector<float> a(v.size());
            std::transform(v.begin(), v.end(), a.begin(), [](float x) { return std::fabs(x); });
            threshold[name] = threshold_of(std::move(a), o.sparsity);
        }
    } else {
        std::vector<float> a;
        for (const auto& [name, v] : pruned)
            for (float x : v) a.push_back(std::fabs(x));
        const float t = threshold_of(std::move(a), o.sparsity);
        for (const auto& [name, v] : pruned) threshold[name] = t;
    }
    MagnitudePruneReport report;
    report.size_in = in.file_size();
    std::map<std::string, std::vector<uint8_t>> bytes;
    for (auto& [name, v] : pruned) {
        const float t = threshold[name];
        int64_t zeros = 0;
        if (o.sparsity > 0)
            for (float& x : v)
                if (std::fabs(x) <= t) x = 0.0f;
        for (float x : v) zeros += x == 0.0f;
        report.tensors.push_back({name, static_cast<int64_t>(v.size()), zeros});
    }
    GgufWriter w;
    for (const auto& [key, value] : in.metadata())
        if (key != keys::kAlignment) w.set(key, value);
    for (const GgufTensor& t : in.tensors()) {
        const auto it = pruned.find(t.name);
        if (it == pruned.end()) {
            w.add_tensor(t.name, t.type, t.dims, t.data, t.bytes);
            continue;
        }
        const std::vector<float>* v = &it->second;
        const DType type = t.type;
        w.add_tensor(t.name, type, t.dims, [v, type] {
            return encode_tensor(v->data(), static_cast<int64_t>(v->size()), type);
        });
    }
    w.write(out_path);
    report.size_out = std::filesystem::file_size(out_path);
    return report;
}

}  // namespace edgelm
