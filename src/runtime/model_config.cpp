#include "runtime/model_config.h"

#include <cmath>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "runtime/stored_matrix.h"

namespace edgelm {

uint64_t ModelConfig::n_params() const {
    const uint64_t d = static_cast<uint64_t>(dim);
    const uint64_t per_layer = 2 * d                                      // two norms
                               + d * static_cast<uint64_t>(q_dim()) * 2   // wq, wo
                               + d * static_cast<uint64_t>(kv_dim()) * 2  // wk, wv
                               + d * static_cast<uint64_t>(ffn_dim) * 3;  // gate, up, down
    const uint64_t embed = d * static_cast<uint64_t>(vocab);
    return embed * (tied_output ? 1 : 2) + d + per_layer * static_cast<uint64_t>(blocks());
}

void ModelConfig::validate() const {
    auto need = [](bool ok, const std::string& what) {
        if (!ok) throw ArgumentError("invalid model shape: " + what);
    };
    need(dim > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 && ffn_dim > 0 && vocab > 0 &&
             ctx > 0,
         "dim, layers, heads, kv-heads, ffn, vocab and ctx must all be positive");
    need(head_dim > 0, "head dimension must be positive");
    need(n_heads % n_kv_heads == 0, "heads (" + std::to_string(n_heads) +
                                        ") must be a multiple of kv-heads (" +
                                        std::to_string(n_kv_heads) + ")");
    need(rope_dim > 0 && rope_dim <= head_dim && rope_dim % 2 == 0,
         "rope dimension " + std::to_string(rope_dim) +
             " must be even and at most the head dimension " + std::to_string(head_dim));
    need(n_blocks >= 0 && blocks() <= n_layers && n_layers % blocks() == 0,
         "shared blocks (" + std::to_string(n_blocks) + ") must divide the layers (" +
             std::to_string(n_layers) + ")");
    need(std::isfinite(rope_base) && rope_base > 0, "rope base must be positive");
    need(std::isfinite(rope_freq_scale) && rope_freq_scale > 0, "rope scale must be positive");
    need(std::isfinite(norm_eps) && norm_eps > 0, "norm epsilon must be positive");
    need(dim <= (1 << 16) && ffn_dim <= (1 << 18) && vocab <= (1 << 22) && ctx <= (1 << 20) &&
             n_layers <= 1024 && n_heads <= 1024 && head_dim <= 1024,
         "a dimension is larger than edgelm supports");
}

ModelConfig ModelConfig::llama(int dim, int layers, int heads, int kv_heads, int ffn, int vocab,
                               int ctx, bool tied_output) {
    ModelConfig c;
    c.dim = dim;
    c.n_layers = layers;
    c.n_heads = heads;
    c.n_kv_heads = kv_heads;
    c.head_dim = heads > 0 ? dim / heads : 0;
    c.rope_dim = c.head_dim;
    c.ffn_dim = ffn;
    c.vocab = vocab;
    c.ctx = ctx;
    c.tied_output = tied_output;
    return c;
}

ModelConfig ModelConfig::from_gguf(const GgufFile& f) {
    ModelConfig c;
    auto arch = f.get_string(keys::kArchitecture);
    if (!arch) throw FormatError(f.path() + ": missing metadata key 'general.architecture'");
    if (*arch != "llama")
        throw FormatError(f.path() + ": architecture '" + *arch +
                          "' is not supported (edgelm runs 'llama'-family decoders)");
    c.arch = *arch;
    auto req = [&](const char* suffix) -> int {
        const std::string key = keys::arch_key(c.arch, suffix);
        auto v = f.get_uint(key);
        if (!v) throw FormatError(f.path() + ": missing metadata key '" + key + "'");
        if (*v == 0 || *v > (1u << 24))
            f.fail_key(key, "value " + std::to_string(*v) + " is out of range");
        return static_cast<int>(*v);
    };
    auto opt = [&](const char* suffix, int fallback) -> int {
        const std::string key = keys::arch_key(c.arch, suffix);
        auto v = f.get_uint(key);
        if (!v) return fallback;
        if (*v == 0 || *v > (1u << 24))
            f.fail_key(key, "value " + std::to_string(*v) + " is out of range");
        return static_cast<int>(*v);
    };
    c.dim = req(keys::kEmbeddingLength);
    c.n_layers = req(keys::kBlockCount);
    c.n_heads = req(keys::kHeadCount);
    c.n_kv_heads = opt(keys::kHeadCountKv, c.n_heads);
    c.ffn_dim = req(keys::kFeedForwardLength);
    c.ctx = req(keys::kContextLength);
    c.head_dim = opt(keys::kKeyLength, c.dim % c.n_heads == 0 ? c.dim / c.n_heads : 0);
    if (opt(keys::kValueLength, c.head_dim) != c.head_dim)
        f.fail_key(keys::arch_key(c.arch, keys::kValueLength), "must equal the key length");
    c.rope_dim = opt(keys::kRopeDimensionCount, c.head_dim);
    if (auto v = f.get_float(keys::arch_key(c.arch, keys::kRopeFreqBase)))
        c.rope_base = static_cast<float>(*v);
    if (auto v = f.get_float(keys::arch_key(c.arch, keys::kRmsEpsilon)))
        c.norm_eps = static_cast<float>(*v);
    const std::string scaling_key = keys::arch_key(c.arch, keys::kRopeScalingType);
    const std::string scaling = f.get_string(scaling_key).value_or("none");
    if (scaling == "linear") {
        auto factor = f.get_float(keys::arch_key(c.arch, keys::kRopeScalingFactor));
        if (factor && *factor > 0) c.rope_freq_scale = static_cast<float>(1.0 / *factor);
    } else if (scaling != "none") {
        f.fail_key(scaling_key, "rope scaling '" + scaling + "' is not supported (none, linear)");
    }
    // The vocabulary size comes from the embedding matrix, which every file has.
    const auto embd = weight_dims(f, keys::kTokenEmbd);
    if (!embd) throw FormatError(f.path() + ": missing tensor '" + keys::kTokenEmbd + "'");
    if (embd->size() != 2) throw FormatError(f.path() + ": tensor 'token_embd.weight' must be 2-D");
    c.vocab = static_cast<int>(std::min<int64_t>((*embd)[1], 1 << 30));
    c.tied_output = !weight_dims(f, keys::kOutput);
    if (auto v = f.get_uint(keys::kSharedBlockCount)) {
        if (*v == 0 || *v > static_cast<uint64_t>(c.n_layers) || c.n_layers % *v != 0)
            f.fail_key(keys::kSharedBlockCount, "value " + std::to_string(*v) +
                                                    " must divide the block count " +
                                                    std::to_string(c.n_layers));
        c.n_blocks = static_cast<int>(*v);
    }
    try {
        c.validate();
    } catch (const ArgumentError& e) {
        throw FormatError(f.path() + ": " + e.what());
    }
    return c;
}

void ModelConfig::to_gguf(GgufWriter& w) const {
    w.set(keys::kArchitecture, GgufValue::string(arch));
    auto u = [&](const char* suffix, int v) {
        w.set(keys::arch_key(arch, suffix), GgufValue::u32(static_cast<uint32_t>(v)));
    };
    u(keys::kContextLength, ctx);
    u(keys::kEmbeddingLength, dim);
    u(keys::kBlockCount, n_layers);
    u(keys::kFeedForwardLength, ffn_dim);
    u(keys::kHeadCount, n_heads);
    u(keys::kHeadCountKv, n_kv_heads);
    if (head_dim * n_heads != dim) {
        u(keys::kKeyLength, head_dim);
        u(keys::kValueLength, head_dim);
    }
    u(keys::kRopeDimensionCount, rope_dim);
    if (n_blocks > 0 && n_blocks != n_layers)
        w.set(keys::kSharedBlockCount, GgufValue::u32(static_cast<uint32_t>(n_blocks)));
    u(keys::kVocabSize, vocab);
    w.set(keys::arch_key(arch, keys::kRopeFreqBase), GgufValue::f32(rope_base));
    w.set(keys::arch_key(arch, keys::kRmsEpsilon), GgufValue::f32(norm_eps));
    if (rope_freq_scale != 1.0f) {
        w.set(keys::arch_key(arch, keys::kRopeScalingType), GgufValue::string("linear"));
        w.set(keys::arch_key(arch, keys::kRopeScalingFactor),
              GgufValue::f32(1.0f / rope_freq_scale));
    }
}

}  // namespace edgelm
