#include "runtime/lora_adapter.h"

#include <cstdlib>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "runtime/model_writer.h"
#include "runtime/stored_matrix.h"

namespace edgelm {

namespace {

constexpr const char* kLoraA = ".lora_a";
constexpr const char* kLoraB = ".lora_b";

struct TargetInfo {
    LoraTarget target;
    const char* name;
    const char* tensor;
};
constexpr TargetInfo kTargetInfo[] = {
    {LoraTarget::Q, "q", keys::kAttnQ},         {LoraTarget::K, "k", keys::kAttnK},
    {LoraTarget::V, "v", keys::kAttnV},         {LoraTarget::O, "o", keys::kAttnOutput},
    {LoraTarget::Gate, "gate", keys::kFfnGate}, {LoraTarget::Up, "up", keys::kFfnUp},
    {LoraTarget::Down, "down", keys::kFfnDown},
};

const TargetInfo& info(LoraTarget t) {
    return kTargetInfo[static_cast<size_t>(t)];
}

// "blk.N.attn_q.weight" -> (N, Q); nullopt for any other name.
std::optional<std::pair<int, LoraTarget>> parse_matrix_name(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return std::nullopt;
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos || dot == 4) return std::nullopt;
    char* end = nullptr;
    const long block = std::strtol(name.c_str() + 4, &end, 10);
    if (end != name.c_str() + dot || block < 0 || block > 1 << 20) return std::nullopt;
    const std::string rest = name.substr(dot + 1);
    for (const TargetInfo& t : kTargetInfo)
        if (rest == t.tensor) return std::make_pair(static_cast<int>(block), t.target);
    return std::nullopt;
}

}  // namespace

const char* lora_target_name(LoraTarget t) {
    return info(t).name;
}
const char* lora_target_tensor(LoraTarget t) {
    return info(t).tensor;
}

std::optional<LoraTarget> parse_lora_target(const std::string& name) {
    for (const TargetInfo& t : kTargetInfo)
        if (name == t.name) return t.target;
    return std::nullopt;
}

std::pair<int64_t, int64_t> lora_target_shape(const ModelConfig& c, LoraTarget t) {
    switch (t) {
        case LoraTarget::Q:
            return {c.q_dim(), c.dim};
        case LoraTarget::K:
        case LoraTarget::V:
            return {c.kv_dim(), c.dim};
        case LoraTarget::O:
            return {c.dim, c.q_dim()};
        case LoraTarget::Gate:
        case LoraTarget::Up:
            return {c.ffn_dim, c.dim};
        case LoraTarget::Down:
            return {c.dim, c.ffn_dim};
    }
    return {0, 0};
}

std::shared_ptr<const LoraAdapter> LoraAdapter::load(const std::string& path,
                                                     const ModelConfig& base) {
    const GgufFile f(path);
    const auto fail = [&](const std::string& what) { throw FormatError(path + ": " + what); };
    if (f.get_string(keys::kGeneralType).value_or("") != "adapter" ||
        f.get_string(keys::kAdapterType).value_or("") != "lora")
        fail("not a LoRA adapter (general.type = adapter, adapter.type = lora)");
    if (f.get_string(keys::kArchitecture).value_or("") != base.arch)
        fail("an adapter for architecture '" + f.get_string(keys::kArchitecture).value_or("?") +
             "', the model is '" + base.arch + "'");
    const auto alpha = f.get_float(keys::kAdapterLoraAlpha);
    if (!alpha || !(*alpha > 0)) fail("adapter.lora.alpha is missing or not positive");
    auto a = std::make_shared<LoraAdapter>();
    a->path_ = path;
    a->hash_ = 1469598103934665603ull;
    for (uint64_t i = 0; i < f.file_size(); ++i) {
        a->hash_ ^= f.raw_bytes()[i];
        a->hash_ *= 1099511628211ull;
    }
    a->alpha_ = static_cast<float>(*alpha);
    for (const GgufTensor& t : f.tensors()) {
        const bool is_a = t.name.size() > 7 && t.name.ends_with(kLoraA);
        const bool is_b = t.name.size() > 7 && t.name.ends_with(kLoraB);
        if (!is_a && !is_b) fail("tensor '" + t.name + "' is not a lora_a or lora_b tensor");
        const std::string matrix = t.name.substr(0, t.name.size() - 7);
        const auto which = parse_matrix_name(matrix);
        if (!which || which->first >= base.blocks())
            fail("tensor '" + t.name + "' names no adaptable matrix of the model (" +
                 std::to_string(base.blocks()) + " blocks; q, k, v, o, gate, up, down)");
        const TypeTraits* tr = find_type_traits(t.type);
        if (!tr || t.dims.size() != 2)
            fail("tensor '" + t.name + "' must be a 2-D f32 or f16 matrix");
        const auto [rows, cols] = lora_target_shape(base, which->second);
        LoraMatrix& m = a->matrices_[*which];
        m.rows = rows;
        m.cols = cols;
        // lora_a: {cols, rank}; lora_b: {rank, rows} (GGUF dims, innermost first).
        const int64_t rank = is_a ? t.dims[1] : t.dims[0];
        if ((is_a && t.dims[0] != cols) || (is_b && t.dims[1] != rows))
            fail("tensor '" + t.name + "' does not fit " + matrix + " (" + std::to_string(rows) +
                 " x " + std::to_string(cols) + ")");
        if (rank < 1 || (a->rank_ && rank != a->rank_) || (m.rank && rank != m.rank))
            fail("tensor '" + t.name + "' has rank " + std::to_string(rank) +
                 "; every matrix of an adapter must have one rank");
        a->rank_ = m.rank = rank;
        std::vector<float>& dst = is_a ? m.a : m.b;
        dst.resize(static_cast<size_t>(t.n_elements));
        tr->to_float(t.data, dst.data(), t.n_elements);
    }
    if (a->matrices_.empty()) fail("the adapter has no tensors");
    for (const auto& [key, m] : a->matrices_)
        if (m.a.empty() || m.b.empty())
            fail(std::string("blk.") + std::to_string(key.first) + "." +
                 lora_target_tensor(key.second) + " has only one of lora_a and lora_b");
    return a;
}

const LoraMatrix* LoraAdapter::find(int block, LoraTarget t) const {
    const auto it = matrices_.find({block, t});
    return it == matrices_.end() ? nullptr : &it->second;
}

std::pair<std::string, float> parse_lora_argument(const std::string& arg) {
    const size_t colon = arg.rfind(':');
    if (colon == std::string::npos || colon == 0) return {arg, 1.0f};
    const std::string scale = arg.substr(colon + 1);
    char* end = nullptr;
    const float s = std::strtof(scale.c_str(), &end);
    if (scale.empty() || *end != '\0')
        throw ArgumentError("--lora '" + arg + "': expected FILE or FILE:SCALE, e.g. a.gguf:0.5");
    return {arg.substr(0, colon), s};
}

void apply_lora(const LoraMatrix& m, float factor, const float* x, int64_t x_stride, int n,
                float* out, int64_t out_stride) {
    thread_local std::vector<float> u;  // decoding calls this per token: no allocation
    u.resize(static_cast<size_t>(m.rank));
    for (int t = 0; t < n; ++t) {
        const float* xt = x + t * x_stride;
        for (int64_t k = 0; k < m.rank; ++k) {
            const float* ak = m.a.data() + k * m.cols;
            float s = 0;
            for (int64_t c = 0; c < m.cols; ++c) s += ak[c] * xt[c];
            u[static_cast<size_t>(k)] = factor * s;
        }
        float* ot = out + t * out_stride;
        for (int64_t r = 0; r < m.rows; ++r) {
            const float* br = m.b.data() + r * m.rank;
            float s = 0;
            for (int64_t k = 0; k < m.rank; ++k) s += br[k] * u[static_cast<size_t>(k)];
            ot[r] += s;
        }
    }
}

void write_lora_adapter(const std::string& path, const ModelConfig& base, float alpha,
                        const std::map<std::pair<int, LoraTarget>, LoraMatrix>& matrices) {
    GgufWriter w;
    w.set(keys::kArchitecture, GgufValue::string(base.arch));
    w.set(keys::kGeneralType, GgufValue::string("adapter"));
    w.set(keys::kAdapterType, GgufValue::string("lora"));
    w.set(keys::kAdapterLoraAlpha, GgufValue::f32(alpha));
    for (const auto& [key, m] : matrices) {
        const std::string name = keys::block_tensor(key.first, lora_target_tensor(key.second));
        w.add_tensor(name + kLoraA, DType::F32, {m.cols, m.rank}, m.a.data(),
                     m.a.size() * sizeof(float));
        w.add_tensor(name + kLoraB, DType::F32, {m.rank, m.rows}, m.b.data(),
                     m.b.size() * sizeof(float));
    }
    w.write(path);
}

void merge_lora(const std::string& base_path, const std::string& out_path,
                const std::vector<LoraBinding>& adapters) {
    require_distinct_output(base_path, out_path);
    const GgufFile in(base_path);
    require_plain_matrices(in, "merge into a dense model");
    GgufWriter w;
    for (const auto& [key, value] : in.metadata())
        if (key != keys::kAlignment) w.set(key, value);
    for (const GgufTensor& t : in.tensors()) {
        const auto which = parse_matrix_name(t.name);
        std::vector<std::pair<const LoraMatrix*, float>> deltas;
        if (which)
            for (const LoraBinding& b : adapters)
                if (const LoraMatrix* m = b.adapter->find(which->first, which->second))
                    deltas.emplace_back(
                        m, b.scale * b.adapter->alpha() / static_cast<float>(b.adapter->rank()));
        if (deltas.empty()) {
            w.add_tensor(t.name, t.type, t.dims, t.data, t.bytes);
            continue;
        }
        const TypeTraits* tr = find_type_traits(t.type);
        if (!tr || !type_traits(t.type).from_float)
            throw ArgumentError(base_path + ": tensor '" + t.name + "' is " + dtype_name(t.type) +
                                ", which edgelm cannot re-encode after merging");
        const GgufTensor* src = &t;
        w.add_tensor(t.name, t.type, t.dims, [src, tr, deltas] {
            const int64_t cols = src->dims[0], rows = src->dims[1];
            std::vector<float> v(static_cast<size_t>(src->n_elements));
            tr->to_float(src->data, v.data(), src->n_elements);
            for (const auto& [m, factor] : deltas)
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t k = 0; k < m->rank; ++k) {
                        const float brk = factor * m->b[static_cast<size_t>(r * m->rank + k)];
                        const float* ak = m->a.data() + k * cols;
                        float* vr = v.data() + r * cols;
                        for (int64_t c = 0; c < cols; ++c) vr[c] += brk * ak[c];
                    }
            return encode_tensor(v.data(), src->n_elements, src->type);
        });
    }
    w.write(out_path);
}

}  // namespace edgelm
