#include "quant/structured_prune.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "core/atomic_file.h"
#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "quant/calibration.h"
#include "runtime/model_writer.h"

namespace edgelm {

namespace {

// A tensor decoded to floats; matrices are rows x cols row-major (GGUF dims {cols, rows}).
struct FloatTensor {
    std::vector<int64_t> dims;
    DType type;
    std::vector<float> v;

    int64_t cols() const { return dims[0]; }
    int64_t rows() const { return dims.size() > 1 ? dims[1] : 1; }
    const float* row(int64_t r) const { return v.data() + r * cols(); }
};

FloatTensor keep_rows(const FloatTensor& t, const std::vector<int64_t>& rows) {
    FloatTensor out{{t.cols(), static_cast<int64_t>(rows.size())}, t.type, {}};
    out.v.reserve(rows.size() * static_cast<size_t>(t.cols()));
    for (int64_t r : rows) out.v.insert(out.v.end(), t.row(r), t.row(r) + t.cols());
    return out;
}

FloatTensor keep_cols(const FloatTensor& t, const std::vector<int64_t>& cols) {
    FloatTensor out{{static_cast<int64_t>(cols.size()), t.rows()}, t.type, {}};
    out.v.reserve(cols.size() * static_cast<size_t>(t.rows()));
    for (int64_t r = 0; r < t.rows(); ++r)
        for (int64_t c : cols) out.v.push_back(t.row(r)[c]);
    return out;
}

double norm2(const float* x, int64_t n, int64_t stride = 1) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i * stride]) * x[i * stride];
    return s;
}

// The `keep` highest-scoring indices, in their original order.
std::vector<int64_t> top_indices(const std::vector<double>& score, int64_t keep) {
    std::vector<int64_t> idx(score.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
        return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)];
    });
    idx.resize(static_cast<size_t>(keep));
    std::sort(idx.begin(), idx.end());
    return idx;
}

// Input statistics H of a matrix, or null.
const std::vector<double>* input_stats(const CalibrationStats* cal, const std::string& name) {
    if (!cal) return nullptr;
    const auto it = cal->inputs.find(name);
    return it == cal->inputs.end() ? nullptr : it->second.get();
}

// tr(W H W^T): the summed squared outputs of W over the calibration inputs.
double output_energy(const FloatTensor& w, const std::vector<double>& h) {
    const int64_t n = w.cols();
    double total = 0;
    for (int64_t r = 0; r < w.rows(); ++r) {
        const float* x = w.row(r);
        for (int64_t i = 0; i < n; ++i) {
            double hx = 0;
            for (int64_t j = 0; j < n; ++j) hx += h[static_cast<size_t>(i * n + j)] * x[j];
            total += x[i] * hx;
        }
    }
    return total;
}

class Pruner {
  public:
    Pruner(const GgufFile& in, const ModelConfig& c, const StructuredPruneOptions& o)
        : c_(c), o_(o) {
        for (const GgufTensor& t : in.tensors()) {
            const TypeTraits* tt = find_type_traits(t.type);
            const bool is_float =
                t.type == DType::F32 || t.type == DType::F16 || t.type == DType::BF16;
            if (!tt || (t.dims.size() >= 2 && !is_float))
                throw ArgumentError(in.path() + ": tensor '" + t.name + "' is stored as " +
                                    dtype_name(t.type) +
                                    "; prune the f32/f16 model, then quantize the result");
            FloatTensor f{t.dims, t.type, std::vector<float>(static_cast<size_t>(t.n_elements))};
            tt->to_float(t.data, f.v.data(), t.n_elements);
            order_.push_back(t.name);
            tensors_[t.name] = std::move(f);
        }
    }

    ModelConfig prune_ffn() {
        const int64_t ffn = c_.ffn_dim;
        int64_t keep = ffn - std::llround(o_.amount * static_cast<double>(ffn));
        if (ffn >= 64) keep = std::max<int64_t>(32, keep / 32 * 32);  // stays quantizable
        if (keep >= ffn || keep < 1)
            throw ArgumentError("--amount " + std::to_string(o_.amount) +
                                " removes no channel of " + std::to_string(ffn) +
                                " (channels go in multiples of 32)");
        for (int l = 0; l < c_.n_layers; ++l) {
            FloatTensor& gate = at(l, keys::kFfnGate);
            FloatTensor& up = at(l, keys::kFfnUp);
            FloatTensor& down = at(l, keys::kFfnDown);
            const std::vector<double>* h = input_stats(o_.calibration, name(l, keys::kFfnDown));
            std::vector<double> score(static_cast<size_t>(ffn));
            for (int64_t i = 0; i < ffn; ++i) {
                const double out_weight = std::sqrt(norm2(down.v.data() + i, down.rows(), ffn));
                const double size =
                    h ? std::sqrt((*h)[static_cast<size_t>(i * ffn + i)])
                      : std::sqrt(norm2(gate.row(i), gate.cols()) * norm2(up.row(i), up.cols()));
                score[static_cast<size_t>(i)] = out_weight * size;
            }
            const std::vector<int64_t> kept = top_indices(score, keep);
            gate = keep_rows(gate, kept);
            up = keep_rows(up, kept);
            down = keep_cols(down, kept);
        }
        ModelConfig after = c_;
        after.ffn_dim = static_cast<int>(keep);
        return after;
    }

    ModelConfig prune_heads() {
        const int kv = c_.n_kv_heads, group = c_.n_heads / c_.n_kv_heads, hd = c_.head_dim;
        const int64_t remove = std::llround(o_.amount * kv);
        if (remove < 1 || remove >= kv)
            throw ArgumentError("--amount " + std::to_string(o_.amount) + " of " +
                                std::to_string(kv) +
                                " kv head groups removes none or all of them; heads go in groups "
                                "of " +
                                std::to_string(group) + " query heads per kv head");
        for (int l = 0; l < c_.n_layers; ++l) {
            FloatTensor& q = at(l, keys::kAttnQ);
            FloatTensor& k = at(l, keys::kAttnK);
            FloatTensor& v = at(l, keys::kAttnV);
            FloatTensor& o = at(l, keys::kAttnOutput);
            const std::vector<double>* h = input_stats(o_.calibration, name(l, keys::kAttnOutput));
            const int64_t q_dim = o.cols();
            std::vector<double> score(static_cast<size_t>(kv), 0.0);
            for (int head = 0; head < c_.n_heads; ++head) {
                double out_weight = 0, size = 0;
                for (int d = head * hd; d < (head + 1) * hd; ++d) {
                    out_weight += norm2(o.v.data() + d, o.rows(), q_dim);
                    size +=
                        h ? (*h)[static_cast<size_t>(d * q_dim + d)] : norm2(q.row(d), q.cols());
                }
                score[static_cast<size_t>(head / group)] += std::sqrt(out_weight * size);
            }
            const std::vector<int64_t> groups = top_indices(score, kv - remove);
            std::vector<int64_t> q_rows, kv_rows;
            for (int64_t g : groups) {
                for (int64_t d = g * hd; d < (g + 1) * hd; ++d) kv_rows.push_back(d);
                for (int64_t d = g * group * hd; d < (g + 1) * group * hd; ++d) q_rows.push_back(d);
            }
            q = keep_rows(q, q_rows);
            k = keep_rows(k, kv_rows);
            v = keep_rows(v, kv_rows);
            o = keep_cols(o, q_rows);
        }
        ModelConfig after = c_;
        after.n_kv_heads = kv - static_cast<int>(remove);
        after.n_heads = after.n_kv_heads * group;
        return after;
    }

    ModelConfig prune_layers(std::vector<int>& removed) {
        const int64_t remove = std::llround(o_.amount * c_.n_layers);
        if (remove < 1 || remove >= c_.n_layers)
            throw ArgumentError("--amount " + std::to_string(o_.amount) + " of " +
                                std::to_string(c_.n_layers) +
                                " layers removes none or all of them");
        std::vector<double> score(static_cast<size_t>(c_.n_layers));
        for (int l = 0; l < c_.n_layers; ++l) {
            double s = 0;
            for (const char* m : {keys::kAttnOutput, keys::kFfnDown}) {
                const FloatTensor& w = at(l, m);
                const std::vector<double>* h = input_stats(o_.calibration, name(l, m));
                s += h ? output_energy(w, *h) : norm2(w.v.data(), static_cast<int64_t>(w.v.size()));
            }
            score[static_cast<size_t>(l)] = s;
        }
        const std::vector<int64_t> kept = top_indices(score, c_.n_layers - remove);
        std::map<std::string, FloatTensor> renamed;
        std::vector<std::string> order;
        for (const std::string& n : order_) {
            if (n.rfind("blk.", 0) != 0) {
                order.push_back(n);
                renamed[n] = std::move(tensors_[n]);
                continue;
            }
            const size_t dot = n.find('.', 4);
            const int64_t layer = std::stoll(n.substr(4, dot - 4));
            const auto pos = std::find(kept.begin(), kept.end(), layer);
            if (pos == kept.end()) continue;
            const std::string to = "blk." + std::to_string(pos - kept.begin()) + n.substr(dot);
            order.push_back(to);
            renamed[to] = std::move(tensors_[n]);
        }
        for (int l = 0; l < c_.n_layers; ++l)
            if (std::find(kept.begin(), kept.end(), l) == kept.end()) removed.push_back(l);
        tensors_ = std::move(renamed);
        order_ = std::move(order);
        ModelConfig after = c_;
        after.n_layers = static_cast<int>(kept.size());
        return after;
    }

    void write(const GgufFile& in, const ModelConfig& after, const std::string& out_path) {
        GgufWriter w;
        for (const auto& [key, value] : in.metadata())
            if (key != keys::kAlignment) w.set(key, value);
        after.to_gguf(w);
        for (const std::string& n : order_) {
            const FloatTensor* t = &tensors_.at(n);
            w.add_tensor(n, t->type, t->dims, [t] {
                return encode_tensor(t->v.data(), static_cast<int64_t>(t->v.size()), t->type);
            });
        }
        w.write(out_path);
    }

  private:
    static std::string name(int layer, const char* suffix) {
        return keys::block_tensor(layer, suffix);
    }
    FloatTensor& at(int layer, const char* suffix) {
        const auto it = tensors_.find(name(layer, suffix));
        if (it == tensors_.end())
            throw FormatError("the model has no tensor '" + name(layer, suffix) + "'");
        return it->second;
    }

    ModelConfig c_;
    const StructuredPruneOptions& o_;
    std::map<std::string, FloatTensor> tensors_;
    std::vector<std::string> order_;  // the input's tensor order
};

}  // namespace

PruneUnit parse_prune_unit(const std::string& name) {
    if (name == "heads") return PruneUnit::Heads;
    if (name == "ffn") return PruneUnit::Ffn;
    if (name == "layers") return PruneUnit::Layers;
    throw ArgumentError("--structured '" + name + "': expected heads, ffn or layers");
}

StructuredPruneReport prune_structured(const std::string& in_path, const std::string& out_path,
                                       const StructuredPruneOptions& options) {
    if (!(options.amount > 0 && options.amount < 1))
        throw ArgumentError("--amount must be in (0, 1), the fraction of units to remove; got " +
                            std::to_string(options.amount));
    require_distinct_output(in_path, out_path);
    GgufFile in(in_path);
    StructuredPruneReport report;
    report.before = ModelConfig::from_gguf(in);
    if (report.before.blocks() != report.before.n_layers)
        throw ArgumentError(in_path +
                            " shares blocks across layers (--share-layers); structured "
                            "pruning needs one block per layer");
    report.size_in = in.file_size();
    Pruner pruner(in, report.before, options);
    switch (options.unit) {
        case PruneUnit::Ffn:
            report.after = pruner.prune_ffn();
            break;
        case PruneUnit::Heads:
            report.after = pruner.prune_heads();
            break;
        case PruneUnit::Layers:
            report.after = pruner.prune_layers(report.removed_layers);
            break;
    }
    report.after.validate();
    pruner.write(in, report.after, out_path);
    report.size_out = std::filesystem::file_size(out_path);
    return report;
}

}  // namespace edgelm
