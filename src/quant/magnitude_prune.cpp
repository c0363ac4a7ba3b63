#include "quant/magnitude_prune.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "runtime/model_writer.h"
#include "runtime/stored_matrix.h"

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
    require_distinct_output(in_path, out_path);
    GgufFile in(in_path);
    require_plain_matrices(in, "prune the dense float model");
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
        report.tensors.push_back({name, static_cast<int64_t>(v.size()), zeros, false});
    }
    GgufWriter w;
    for (const auto& [key, value] : in.metadata())
        if (key != keys::kAlignment) w.set(key, value);
    std::map<std::string, const MagnitudePruneReport::Tensor*> rep;
    for (MagnitudePruneReport::Tensor& t : report.tensors) {
        const GgufTensor& src = in.tensor(t.name);
        // Sparse when the mask and the non-zeros take fewer bytes than the dense matrix.
        const double value_bits = src.type == DType::F16 ? 16 : 32;
        const double dense_bits = src.type == DType::F32 ? 32 : 16;
        t.sparse = o.sparse_storage && src.dims[0] % 8 == 0 &&
                   static_cast<double>(t.n) + value_bits * static_cast<double>(t.n - t.zeros) <
                       dense_bits * static_cast<double>(t.n);
        rep[t.name] = &t;
    }
    for (const GgufTensor& t : in.tensors()) {
        const auto it = pruned.find(t.name);
        if (it == pruned.end()) {
            w.add_tensor(t.name, t.type, t.dims, t.data, t.bytes);
            continue;
        }
        const std::vector<float>* v = &it->second;
        if (!rep.at(t.name)->sparse) {
            const DType type = t.type;
            w.add_tensor(t.name, type, t.dims, [v, type] {
                return encode_tensor(v->data(), static_cast<int64_t>(v->size()), type);
            });
            continue;
        }
        // A bit per weight, then the non-zeros (f16 stays f16; bf16 widens to f32).
        const DType value_type = t.type == DType::F16 ? DType::F16 : DType::F32;
        int64_t nnz = 0;
        for (float x : *v) nnz += x != 0.0f;
        w.set(keys::kSparsePrefix + t.name,
              GgufValue::i32_array(
                  {static_cast<int32_t>(t.dims[0]), static_cast<int32_t>(t.dims[1])}));
        w.add_tensor(t.name + keys::kMaskSuffix, DType::I8, {static_cast<int64_t>(v->size() / 8)},
                     [v] {
                         std::vector<uint8_t> mask(v->size() / 8, 0);
                         for (size_t i = 0; i < v->size(); ++i)
                             if ((*v)[i] != 0.0f)
                                 mask[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
                         return mask;
                     });
        w.add_tensor(t.name + keys::kValuesSuffix, value_type, {std::max<int64_t>(nnz, 1)},
                     [v, value_type, nnz] {
                         std::vector<float> values;
                         values.reserve(static_cast<size_t>(nnz));
                         for (float x : *v)
                             if (x != 0.0f) values.push_back(x);
                         if (values.empty()) values.push_back(0.0f);
                         return encode_tensor(values.data(), static_cast<int64_t>(values.size()),
                                              value_type);
                     });
    }
    w.write(out_path);
    report.size_out = std::filesystem::file_size(out_path);
    return report;
}

}  // namespace edgelm
