#include "quant/activation_scaling.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/thread_pool.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "quant/output_error.h"
#include "runtime/model_writer.h"

namespace edgelm {

namespace {

bool quantized(DType t) {
    return t != DType::F32 && t != DType::F16 && t != DType::BF16;
}

struct Group {
    std::string norm;
    std::vector<std::string> matrices;
};

// The norms of the file and the matrices that read each one's output.
std::vector<Group> norm_groups(const GgufFile& in) {
    std::vector<Group> groups;
    for (int b = 0;; ++b) {
        const std::string attn = keys::block_tensor(b, keys::kAttnNorm);
        if (!in.find_tensor(attn)) break;
        groups.push_back({attn,
                          {keys::block_tensor(b, keys::kAttnQ), keys::block_tensor(b, keys::kAttnK),
                           keys::block_tensor(b, keys::kAttnV)}});
        groups.push_back(
            {keys::block_tensor(b, keys::kFfnNorm),
             {keys::block_tensor(b, keys::kFfnGate), keys::block_tensor(b, keys::kFfnUp)}});
    }
    return groups;
}

std::vector<float> floats_of(const GgufTensor& t) {
    std::vector<float> v(static_cast<size_t>(t.n_elements));
    type_traits(t.type).to_float(t.data, v.data(), t.n_elements);
    return v;
}

// s_c = ms_c^(alpha / 2) normalised to sqrt(max * min) = 1; channels that never carry
// activation get the smallest non-zero one's scale.
std::vector<float> scales_for(const std::vector<double>& mean_square, double alpha) {
    double floor = std::numeric_limits<double>::max();
    for (double m : mean_square)
        if (m > 0) floor = std::min(floor, m);
    if (floor == std::numeric_limits<double>::max()) floor = 1;
    std::vector<double> s(mean_square.size());
    double mx = 0, mn = std::numeric_limits<double>::max();
    for (size_t c = 0; c < s.size(); ++c) {
        s[c] = std::pow(std::max(mean_square[c], floor), alpha / 2);
        mx = std::max(mx, s[c]);
        mn = std::min(mn, s[c]);
    }
    const double norm = std::sqrt(mx * mn);
    std::vector<float> out(s.size());
    for (size_t c = 0; c < s.size(); ++c) out[c] = static_cast<float>(s[c] / norm);
    return out;
}

}  // namespace

ChannelScales choose_channel_scales(const GgufFile& in, const CalibrationStats& stats,
                                    const std::function<DType(const std::string&)>& type_of,
                                    ThreadPool& pool) {
    ChannelScales out;
    for (const Group& g : norm_groups(in)) {
        // Every reader of the norm must be scaled, or the model changes: skip the group
        // unless all of them are present with their calibration input.
        std::vector<const GgufTensor*> mats;
        std::shared_ptr<const std::vector<double>> h;
        bool complete = in.find_tensor(g.norm) != nullptr, any_quantized = false;
        for (const std::string& name : g.matrices) {
            const GgufTensor* t = in.find_tensor(name);
            const auto it = stats.inputs.find(name);
            if (!t || t->dims.size() != 2 || it == stats.inputs.end() || !it->second) {
                complete = false;
                break;
            }
            h = it->second;
            mats.push_back(t);
            any_quantized |= quantized(storage_type_for(t->dims, type_of(name)));
        }
        if (!complete || !any_quantized) continue;
        const int64_t cols = mats.front()->dims[0];
        if (h->size() != static_cast<size_t>(cols * cols)) continue;
        std::vector<double> mean_square(static_cast<size_t>(cols));
        for (int64_t c = 0; c < cols; ++c)
            mean_square[static_cast<size_t>(c)] =
                (*h)[static_cast<size_t>(c * cols + c)] /
                static_cast<double>(std::max<int64_t>(1, stats.tokens));

        std::vector<std::vector<float>> weights;
        for (const GgufTensor* t : mats) weights.push_back(floats_of(*t));
        double best_err = std::numeric_limits<double>::max(), best_alpha = 0;
        std::vector<float> best_s;
        for (int step = 0; step <= 10; ++step) {
            const double alpha = 0.1 * step;
            const std::vector<float> s = scales_for(mean_square, alpha);
            double err = 0;
            for (size_t m = 0; m < mats.size(); ++m) {
                const DType to = storage_type_for(mats[m]->dims, type_of(g.matrices[m]));
                if (!quantized(to)) continue;
                const int64_t rows = mats[m]->n_elements / cols;
                std::vector<float> scaled = weights[m];
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t c = 0; c < cols; ++c)
                        scaled[static_cast<size_t>(r * cols + c)] *= s[static_cast<size_t>(c)];
                const std::vector<uint8_t> bytes = encode_tensor(scaled.data(), rows * cols, to);
                std::vector<float> back(scaled.size());
                type_traits(to).to_float(bytes.data(), back.data(), rows * cols);
                for (int64_t r = 0; r < rows; ++r)  // the error in the original space
                    for (int64_t c = 0; c < cols; ++c)
                        back[static_cast<size_t>(r * cols + c)] /= s[static_cast<size_t>(c)];
                const double e = output_rmse(weights[m], back, rows, cols, *h, 1, pool);
                err += e * e;
            }
            if (err < best_err) {
                best_err = err;
                best_alpha = alpha;
                best_s = s;
            }
        }
        out.alpha[g.norm] = best_alpha;
        if (best_alpha == 0) continue;  // rounding as it is was best
        auto scaled_h = std::make_shared<std::vector<double>>(*h);
        for (int64_t i = 0; i < cols; ++i)
            for (int64_t j = 0; j < cols; ++j)
                (*scaled_h)[static_cast<size_t>(i * cols + j)] /=
                    static_cast<double>(best_s[static_cast<size_t>(i)]) *
                    best_s[static_cast<size_t>(j)];
        for (const std::string& name : g.matrices) {
            out.columns[name] = best_s;
            out.inputs[name] = scaled_h;
        }
        out.divisors[g.norm] = best_s;
    }
    return out;
}

}  // namespace edgelm
