#include "quant/cluster_model.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/huffman_code.h"
#include "core/thread_pool.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "quant/gptq.h"
#include "runtime/stored_matrix.h"

namespace edgelm {

namespace {

struct EncodedTensor {
    std::vector<int64_t> dims;
    std::vector<uint8_t> codebook;  // f16
    std::vector<int64_t> codebook_dims;
    std::vector<uint8_t> lengths;
    std::vector<uint8_t> codes;
    std::vector<uint8_t> row_scales;  // f16, or empty
};

bool is_float(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

EncodedTensor encode(const GgufTensor& t, const ClusterParams& params,
                     const ClusterCalibration& calibration, TensorClusterReport& rep) {
    const int64_t cols = t.dims[0], rows = t.n_elements / cols;
    std::vector<float> values(static_cast<size_t>(t.n_elements));
    type_traits(t.type).to_float(t.data, values.data(), t.n_elements);
    const ClusteredTensor c = cluster_weights(values.data(), rows, cols, params, calibration);
    rep.gptq = calibration.gptq_factor != nullptr;
    const std::vector<uint64_t> counts = index_counts(c);
    EncodedTensor e;
    e.dims = {cols, rows};
    e.codebook.resize(c.codebook.size() * 2);
    for (size_t i = 0; i < c.codebook.size(); ++i) {
        const uint16_t h = f32_to_f16(c.codebook[i]);
        e.codebook[2 * i] = static_cast<uint8_t>(h & 0xFF);
        e.codebook[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    e.codebook_dims = c.per_row ? std::vector<int64_t>{c.k, rows} : std::vector<int64_t>{c.k};
    for (float scale : c.row_scales) {
        const uint16_t h = f32_to_f16(scale);
        e.row_scales.push_back(static_cast<uint8_t>(h & 0xFF));
        e.row_scales.push_back(static_cast<uint8_t>(h >> 8));
    }
    e.lengths = huffman_code_lengths(counts);
    e.codes = huffman_encode(e.lengths, c.indices.data(), c.indices.size());
    double se = 0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t col = 0; col < cols; ++col) {
            const double d = values[static_cast<size_t>(r * cols + col)] - c.value(r, col);
            se += d * d;
        }
    const double n = static_cast<double>(t.n_elements);
    rep.name = t.name;
    rep.n = t.n_elements;
    for (uint64_t k : counts) rep.clusters_used += k > 0;
    rep.entropy = index_entropy(counts);
    rep.code_bits = 8.0 * static_cast<double>(e.codes.size()) / n;
    rep.stored_bits = 8.0 *
                      static_cast<double>(e.codes.size() + e.codebook.size() + e.lengths.size() +
                                          e.row_scales.size()) /
                      n;
    rep.rmse = std::sqrt(se / n);
    rep.zero_cluster = c.zero_cluster;
    return e;
}

}  // namespace

std::pair<std::string, double> parse_tensor_rate(const std::string& rule) {
    const size_t eq = rule.rfind('=');
    char* end = nullptr;
    const double rate = eq == std::string::npos ? 0 : std::strtod(rule.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || eq + 1 == rule.size() || *end != '\0' || !(rate >= 0))
        throw ArgumentError("--tensor-rate '" + rule +
                            "': expected GLOB=RATE with RATE >= 0 bits per weight, e.g. "
                            "token_embd.weight=3.5");
    return {rule.substr(0, eq), rate};
}

ClusterReport cluster_model(const std::string& in_path, const std::string& out_path,
                            const ClusterModelOptions& options) {
    require_distinct_output(in_path, out_path);
    GgufFile in(in_path);
    require_plain_matrices(in,
                           "cluster the dense float model (prune with --dense, or in `edgelm "
                           "compress` before cluster:BITS)");
    std::vector<const GgufTensor*> matrices;
    std::vector<bool> skip_used(options.skip.size(), false);
    const auto skipped = [&](const std::string& name) {
        for (size_t i = 0; i < options.skip.size(); ++i)
            if (fnmatch(options.skip[i].c_str(), name.c_str(), 0) == 0) {
                skip_used[i] = true;
                return true;
            }
        return false;
    };
    for (const GgufTensor& t : in.tensors()) {
        if (t.dims.size() != 2 || skipped(t.name)) continue;
        if (!is_float(t.type))
            throw ArgumentError(in_path + ": tensor '" + t.name + "' is " + dtype_name(t.type) +
                                "; clustering needs the float weights (f32, f16 or bf16): "
                                "cluster the model before quantizing it");
        matrices.push_back(&t);
    }
    // Each matrix's parameters: the first --tensor-rate rule that matches sets its rate.
    std::vector<ClusterParams> params(matrices.size(), options.params);
    std::vector<bool> rate_used(options.tensor_rates.size(), false);
    for (size_t i = 0; i < matrices.size(); ++i) {
        bool decided = false;
        for (size_t j = 0; j < options.tensor_rates.size(); ++j) {
            if (fnmatch(options.tensor_rates[j].first.c_str(), matrices[i]->name.c_str(), 0) != 0)
                continue;
            rate_used[j] = true;
            if (!decided) params[i].rate = options.tensor_rates[j].second;
            decided = true;
        }
    }
    for (size_t j = 0; j < options.tensor_rates.size(); ++j)
        if (!rate_used[j])
            throw ArgumentError("--tensor-rate '" + options.tensor_rates[j].first +
                                "' matches no clustered matrix of " + in_path);
    for (size_t i = 0; i < options.skip.size(); ++i)
        if (!skip_used[i])
            throw ArgumentError("--skip '" + options.skip[i] + "' matches no matrix of " + in_path +
                                "; `edgelm inspect` lists the tensor names");
    std::vector<EncodedTensor> encoded(matrices.size());
    ClusterReport report;
    report.tensors.resize(matrices.size());
    ThreadPool pool(std::max(1, options.n_threads));
    if (!options.calibration) {  // tensors are independent: one per thread at a time
        pool.parallel_for(static_cast<int64_t>(matrices.size()), [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const size_t at = static_cast<size_t>(i);
                encoded[at] = encode(*matrices[at], params[at], {}, report.tensors[at]);
            }
        });
    } else {  // one tensor at a time, its rows split over the threads
        // Per calibration input (shared by q/k/v and by gate/up): its energies and factor.
        std::map<const std::vector<double>*, std::pair<std::vector<float>, std::vector<double>>>
            per_input;
        for (size_t i = 0; i < matrices.size(); ++i) {
            const GgufTensor& t = *matrices[i];
            const int64_t cols = t.dims[0];
            ClusterCalibration cal;
            cal.pool = &pool;
            const auto it = options.calibration->inputs.find(t.name);
            if (it != options.calibration->inputs.end() && it->second &&
                it->second->size() == static_cast<size_t>(cols * cols)) {
                const std::vector<double>& h = *it->second;
                auto f = per_input.find(&h);
                if (f == per_input.end()) {
                    std::vector<float> energy(static_cast<size_t>(cols));
                    double mean = 0;
                    for (int64_t c = 0; c < cols; ++c) mean += h[static_cast<size_t>(c * cols + c)];
                    mean = mean > 0 ? mean / static_cast<double>(cols) : 1.0;
                    // Relative to the mean, floored so no channel counts for nothing.
                    for (int64_t c = 0; c < cols; ++c)
                        energy[static_cast<size_t>(c)] = static_cast<float>(
                            std::max(h[static_cast<size_t>(c * cols + c)] / mean, 1e-3));
                    f = per_input
                            .emplace(&h, std::make_pair(std::move(energy),
                                                        gptq_inverse_factor(h, cols, GptqParams{})))
                            .first;
                }
                cal.input_energy = &f->second.first;
                cal.gptq_factor = &f->second.second;
            }
            encoded[i] = encode(t, params[i], cal, report.tensors[i]);
        }
    }

    GgufWriter w;
    for (const auto& [key, value] : in.metadata())
        if (key != keys::kAlignment) w.set(key, value);
    size_t next = 0;
    for (const GgufTensor& t : in.tensors()) {
        if (next < matrices.size() && matrices[next] == &t) {
            const EncodedTensor& e = encoded[next++];
            w.set(keys::kClusteredPrefix + t.name,
                  GgufValue::i32_array(
                      {static_cast<int32_t>(e.dims[0]), static_cast<int32_t>(e.dims[1])}));
            w.add_tensor(t.name + keys::kCodebookSuffix, DType::F16, e.codebook_dims,
                         e.codebook.data(), e.codebook.size());
            w.add_tensor(t.name + keys::kCodeLengthsSuffix, DType::I8,
                         {static_cast<int64_t>(e.lengths.size())}, e.lengths.data(),
                         e.lengths.size());
            w.add_tensor(t.name + keys::kCodesSuffix, DType::I8,
                         {static_cast<int64_t>(e.codes.size())}, e.codes.data(), e.codes.size());
            if (!e.row_scales.empty())
                w.add_tensor(t.name + keys::kRowScalesSuffix, DType::F16, {e.dims[1]},
                             e.row_scales.data(), e.row_scales.size());
        } else {
            w.add_tensor(t.name, t.type, t.dims, t.data, t.bytes);
        }
    }
    w.write(out_path);
    report.size_in = in.file_size();
    report.size_out = std::filesystem::file_size(out_path);
    return report;
}

}  // namespace edgelm
