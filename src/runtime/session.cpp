#include "runtime/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace edgelm {

namespace {

constexpr uint32_t kStateMagic = 0x534D4C45;  // "ELMS"
constexpr uint32_t kStateVersion = 1;

// Session state file (little-endian):
//   u32 magic "ELMS", u32 version, u64 model fingerprint, u32 n_layers, u32 kv_dim,
//   u32 vocab, u32 n_tokens, u64 sampler rng state, i32 tokens[n_tokens],
//   f32 last_logits[vocab], then per layer f32 K[n_tokens][kv_dim], f32 V[n_tokens][kv_dim].
struct StateHeader {
    uint32_t magic, version;
    uint64_t fingerprint;
    uint32_t n_layers, kv_dim, vocab, n_tokens;
    uint64_t rng_state;
};
static_assert(sizeof(StateHeader) == 40);

}  // namespace

Session::Session(std::shared_ptr<const Model> model, SessionParams params)
    : model_(std::move(model)),
      n_ctx_(params.n_ctx > 0 ? params.n_ctx : model_->config().ctx),
      pool_(params.n_threads),
      sampler_(params.sampler),
      rope_(std::max(n_ctx_, 1), model_->config().rope_dim, model_->config().rope_base,
            model_->config().rope_freq_scale, model_->weights().rope_freq_factors) {
    const ModelConfig& c = model_->config();
    if (params.n_ctx < 0) throw ArgumentError("context size must be >= 0 (0 = the model's)");
    if (n_ctx_ > (1 << 20))
        throw ArgumentError("context size " + std::to_string(n_ctx_) + " is too large");
    const size_t kv = static_cast<size_t>(c.n_layers) * static_cast<size_t>(n_ctx_) *
                      static_cast<size_t>(c.kv_dim());
    k_cache_.assign(kv, 0.0f);
    v_cache_.assign(kv, 0.0f);
    const size_t b = kMaxBatch;
    x_.resize(b * static_cast<size_t>(c.dim));
    xb_.resize(b * static_cast<size_t>(std::max(c.dim, c.q_dim())));
    q_.resize(b * static_cast<size_t>(c.q_dim()));
    hb_.resize(b * static_cast<size_t>(c.ffn_dim));
    hb2_.resize(b * static_cast<size_t>(c.ffn_dim));
    proj_.resize(b * static_cast<size_t>(c.dim));
    k_new_.resize(b * static_cast<size_t>(c.kv_dim()));
    v_new_.resize(b * static_cast<size_t>(c.kv_dim()));
    scores_.resize(static_cast<size_t>(params.n_threads) * static_cast<size_t>(n_ctx_));
    last_logits_.resize(static_cast<size_t>(c.vocab));
    tokens_.reserve(static_cast<size_t>(n_ctx_));
    row_session_.resize(b);
    row_pos_.resize(b);
    row_pooled_.resize(b);
    logit_rows_.reserve(b);
    batch_tokens_.reserve(b);
    set_lora(std::move(params.lora));
}

void Session::set_lora(std::vector<LoraBinding> adapters) {
    const ModelConfig& c = model_->config();
    for (const LoraBinding& b : adapters) {
        if (!b.adapter) throw ArgumentError("set_lora: a null adapter");
        for (const auto& [key, m] : b.adapter->matrices()) {
            const auto [rows, cols] = lora_target_shape(c, key.second);
            if (key.first >= c.blocks() || m.rows != rows || m.cols != cols)
                throw ArgumentError(b.adapter->path() + " was made for a model of another shape (" +
                                    lora_target_name(key.second) + " of block " +
                                    std::to_string(key.first) + ")");
        }
    }
    lora_ = std::move(adapters);
    lora_terms_.assign(static_cast<size_t>(c.n_layers) * kLoraTargets.size(), {});
    for (int l = 0; l < c.n_layers; ++l)
        for (LoraTarget t : kLoraTargets)
            for (const LoraBinding& b : lora_)
                if (const LoraMatrix* m = b.adapter->find(c.block_of_layer(l), t))
                    lora_terms_[static_cast<size_t>(l) * kLoraTargets.size() +
                                static_cast<size_t>(t)]
                        .emplace_back(m, b.scale * b.adapter->alpha() /
                                             static_cast<float>(b.adapter->rank()));
}

uint64_t Session::state_fingerprint() const {
    uint64_t h = model_->fingerprint();
    for (const LoraBinding& b : lora_) {  // none: the model's own, as before adapters
        uint32_t scale_bits;
        std::memcpy(&scale_bits, &b.scale, sizeof scale_bits);
        h = (h ^ b.adapter->content_hash()) * 1099511628211ull;
        h = (h ^ scale_bits) * 1099511628211ull;
    }
    return h;
}

size_t Session::kv_offset(int layer, int kv_head, int pos) const {
    const ModelConfig& c = model_->config();
    return ((static_cast<size_t>(layer) * static_cast<size_t>(c.n_kv_heads) +
             static_cast<size_t>(kv_head)) *
                static_cast<size_t>(n_ctx_) +
            static_cast<size_t>(pos)) *
           static_cast<size_t>(c.head_dim);
}

void Session::gather_kv(const std::vector<float>& cache, int layer, int n, float* out) const {
    const ModelConfig& c = model_->config();
    for (int t = 0; t < n; ++t)
        for (int h = 0; h < c.n_kv_heads; ++h)
            std::copy_n(cache.data() + kv_offset(layer, h, t), c.head_dim,
                        out + (static_cast<size_t>(t) * static_cast<size_t>(c.n_kv_heads) +
                               static_cast<size_t>(h)) *
                                  static_cast<size_t>(c.head_dim));
}

void Session::scatter_kv(std::vector<float>& cache, int layer, int n, const float* in) {
    const ModelConfig& c = model_->config();
    for (int t = 0; t < n; ++t)
        for (int h = 0; h < c.n_kv_heads; ++h)
            std::copy_n(in + (static_cast<size_t>(t) * static_cast<size_t>(c.n_kv_heads) +
                              static_cast<size_t>(h)) *
                                 static_cast<size_t>(c.head_dim),
                        c.head_dim, cache.data() + kv_offset(layer, h, t));
}

void Session::reset() {
    tokens_.clear();
}

void Session::truncate(int n) {
    if (n < 0 || n > position())
        throw ArgumentError("truncate: " + std::to_string(n) + " is outside 0.." +
                            std::to_string(position()));
    tokens_.resize(static_cast<size_t>(n));
}

void Session::check_tokens(std::span<const TokenId> tokens) const {
    const ModelConfig& c = model_->config();
    if (tokens.empty()) throw ArgumentError("eval: no tokens given");
    if (tokens_.size() + tokens.size() > static_cast<size_t>(n_ctx_))
        throw ArgumentError("the prompt and generated tokens (" +
                            std::to_string(tokens_.size() + tokens.size()) +
                            ") do not fit the context of " + std::to_string(n_ctx_) +
                            " tokens; shorten the prompt or raise --ctx");
    for (TokenId t : tokens)
        if (t < 0 || t >= c.vocab)
            throw ArgumentError("token id " + std::to_string(t) + " is outside the vocabulary of " +
                                std::to_string(c.vocab));
}

std::span<const float> Session::eval_pooled(std::span<const TokenId> tokens) {
    check_tokens(tokens);
    const size_t dim = static_cast<size_t>(model_->config().dim);
    pooled_.assign(dim, 0.0f);
    for (size_t start = 0; start < tokens.size(); start += kMaxBatch) {
        const size_t n = std::min<size_t>(kMaxBatch, tokens.size() - start);
        forward_batch(tokens.subspan(start, n), position(), false, nullptr, pooled_.data());
        tokens_.insert(tokens_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(start),
                       tokens.begin() + static_cast<std::ptrdiff_t>(start + n));
    }
    const float inv = 1.0f / static_cast<float>(tokens.size());
    for (float& v : pooled_) v *= inv;
    return {pooled_.data(), dim};
}

std::span<const float> Session::eval(std::span<const TokenId> tokens, bool all_logits) {
    check_tokens(tokens);
    const size_t vocab = static_cast<size_t>(model_->config().vocab);
    if (all_logits) logits_.resize(tokens.size() * vocab);
    for (size_t start = 0; start < tokens.size(); start += kMaxBatch) {
        const size_t n = std::min<size_t>(kMaxBatch, tokens.size() - start);
        const bool last_chunk = start + n == tokens.size();
        float* out = all_logits   ? logits_.data() + start * vocab
                     : last_chunk ? last_logits_.data()
                                  : nullptr;
        forward_batch(tokens.subspan(start, n), position(), all_logits, out);
        tokens_.insert(tokens_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(start),
                       tokens.begin() + static_cast<std::ptrdiff_t>(start + n));
    }
    if (all_logits) {
        std::memcpy(last_logits_.data(), logits_.data() + (tokens.size() - 1) * vocab,
                    vocab * sizeof(float));
        return {logits_.data(), tokens.size() * vocab};
    }
    return {last_logits_.data(), vocab};
}

void Session::eval_batch(std::span<const BatchPart> parts) {
    size_t total = 0;
    int max_ctx = n_ctx_;
    for (size_t i = 0; i < parts.size(); ++i) {
        const BatchPart& p = parts[i];
        if (!p.session)
            throw ArgumentError("eval_batch: part " + std::to_string(i) + " has no session");
        if (p.session->model_.get() != model_.get())
            throw ArgumentError("eval_batch: part " + std::to_string(i) + " runs another model");
        for (size_t j = 0; j < i; ++j)
            if (parts[j].session == p.session)
                throw ArgumentError("eval_batch: a session appears twice in one batch");
        p.session->check_tokens(p.tokens);
        total += p.tokens.size();
        max_ctx = std::max(max_ctx, p.session->n_ctx_);
    }
    if (total == 0) return;
    if (total > static_cast<size_t>(kMaxBatch))
        throw ArgumentError("eval_batch: " + std::to_string(total) + " tokens, more than " +
                            std::to_string(kMaxBatch) + " in one batch");
    // Grows once to the largest context of the sessions it serves (attention scores).
    const size_t scores = static_cast<size_t>(pool_.size()) * static_cast<size_t>(max_ctx);
    if (scores_.size() < scores) scores_.resize(scores);
    const size_t vocab = static_cast<size_t>(model_->config().vocab);
    if (batch_logits_.size() < parts.size() * vocab) batch_logits_.resize(parts.size() * vocab);

    batch_tokens_.clear();
    logit_rows_.clear();
    int row = 0;
    for (const BatchPart& p : parts) {
        const int pos0 = p.session->position();
        for (size_t t = 0; t < p.tokens.size(); ++t, ++row) {
            row_session_[static_cast<size_t>(row)] = p.session;
            row_pos_[static_cast<size_t>(row)] = pos0 + static_cast<int>(t);
            row_pooled_[static_cast<size_t>(row)] = p.pooled_sum;
            batch_tokens_.push_back(p.tokens[t]);
        }
        if (p.logits && !p.tokens.empty()) logit_rows_.push_back(row - 1);
    }
    forward_rows(batch_tokens_.data(), row, batch_logits_.data());
    size_t k = 0;
    for (const BatchPart& p : parts) {
        if (p.tokens.empty()) continue;
        p.session->tokens_.insert(p.session->tokens_.end(), p.tokens.begin(), p.tokens.end());
        if (p.logits)
            std::memcpy(p.session->last_logits_.data(), batch_logits_.data() + k++ * vocab,
                        vocab * sizeof(float));
    }
}

TokenId Session::sample() {
    if (tokens_.empty()) throw ArgumentError("sample: evaluate a prompt first");
    return sampler_.sample(last_logits_, tokens_);
}

void Session::save_state(const std::string& path) const {
    const ModelConfig& c = model_->config();
    StateHeader h{kStateMagic,
                  kStateVersion,
                  state_fingerprint(),
                  static_cast<uint32_t>(c.n_layers),
                  static_cast<uint32_t>(c.kv_dim()),
                  static_cast<uint32_t>(c.vocab),
                  static_cast<uint32_t>(tokens_.size()),
                  sampler_.rng_state()};
    AtomicFileWriter w(path);
    w.write(&h, sizeof h);
    w.write(tokens_.data(), tokens_.size() * sizeof(TokenId));
    w.write(last_logits_.data(), last_logits_.size() * sizeof(float));
    const int n = static_cast<int>(tokens_.size());
    std::vector<float> rows(static_cast<size_t>(n) * static_cast<size_t>(c.kv_dim()));
    for (int l = 0; l < c.n_layers; ++l) {
        gather_kv(k_cache_, l, n, rows.data());
        w.write(rows.data(), rows.size() * sizeof(float));
        gather_kv(v_cache_, l, n, rows.data());
        w.write(rows.data(), rows.size() * sizeof(float));
    }
    w.commit();
}

SessionSnapshot Session::snapshot(int n) const {
    if (n < 0 || n > position())
        throw ArgumentError("snapshot: " + std::to_string(n) + " is outside 0.." +
                            std::to_string(position()));
    const ModelConfig& c = model_->config();
    SessionSnapshot s;
    s.fingerprint = state_fingerprint();
    s.tokens.assign(tokens_.begin(), tokens_.begin() + n);
    const size_t rows = static_cast<size_t>(n) * static_cast<size_t>(c.kv_dim());
    s.kv.resize(2 * static_cast<size_t>(c.n_layers) * rows);
    for (int l = 0; l < c.n_layers; ++l) {
        gather_kv(k_cache_, l, n, s.kv.data() + (2 * static_cast<size_t>(l)) * rows);
        gather_kv(v_cache_, l, n, s.kv.data() + (2 * static_cast<size_t>(l) + 1) * rows);
    }
    return s;
}

void Session::restore(const SessionSnapshot& s) {
    const ModelConfig& c = model_->config();
    const int n = static_cast<int>(s.tokens.size());
    const size_t rows = static_cast<size_t>(n) * static_cast<size_t>(c.kv_dim());
    if (s.fingerprint != state_fingerprint())
        throw ArgumentError("restore: the snapshot was taken with another model or adapters");
    if (n > n_ctx_ || s.kv.size() != 2 * static_cast<size_t>(c.n_layers) * rows)
        throw ArgumentError("restore: the snapshot does not fit this session (" +
                            std::to_string(n) + " tokens)");
    for (int l = 0; l < c.n_layers; ++l) {
        scatter_kv(k_cache_, l, n, s.kv.data() + (2 * static_cast<size_t>(l)) * rows);
        scatter_kv(v_cache_, l, n, s.kv.data() + (2 * static_cast<size_t>(l) + 1) * rows);
    }
    tokens_ = s.tokens;
}

void Session::load_state(const std::string& path) {
    const ModelConfig& c = model_->config();
    MappedFile f(path);
    auto fail = [&](const std::string& what) -> void { throw FormatError(path + ": " + what); };
    StateHeader h{};
    if (f.size() < sizeof h) fail("too short to be a session state file");
    std::memcpy(&h, f.data(), sizeof h);
    if (h.magic != kStateMagic) fail("not an edgelm session state file (bad magic)");
    if (h.version != kStateVersion)
        fail("unsupported session state version " + std::to_string(h.version));
    if (h.fingerprint != state_fingerprint() || h.n_layers != static_cast<uint32_t>(c.n_layers) ||
        h.kv_dim != static_cast<uint32_t>(c.kv_dim()) || h.vocab != static_cast<uint32_t>(c.vocab))
        fail(
            "was saved with a different model or LoRA adapters; delete it or use the model "
            "(and --lora adapters) it was made with");
    if (h.n_tokens > static_cast<uint32_t>(n_ctx_))
        fail("holds " + std::to_string(h.n_tokens) +
             " tokens, more than this session's context of " + std::to_string(n_ctx_));
    const uint64_t row = static_cast<uint64_t>(c.kv_dim());
    const uint64_t expected = sizeof h + uint64_t{h.n_tokens} * sizeof(TokenId) +
                              uint64_t{h.vocab} * sizeof(float) +
                              2 * uint64_t{h.n_layers} * h.n_tokens * row * sizeof(float);
    if (f.size() != expected)
        fail("size " + std::to_string(f.size()) + " does not match its header (expected " +
             std::to_string(expected) + " bytes); the file is damaged");
    const uint8_t* p = f.data() + sizeof h;
    std::vector<TokenId> tokens(h.n_tokens);
    std::memcpy(tokens.data(), p, tokens.size() * sizeof(TokenId));
    p += tokens.size() * sizeof(TokenId);
    for (TokenId t : tokens)
        if (t < 0 || t >= c.vocab)
            fail("holds token id " + std::to_string(t) + " outside the vocabulary");
    std::memcpy(last_logits_.data(), p, last_logits_.size() * sizeof(float));
    p += last_logits_.size() * sizeof(float);
    // The file may not be aligned for floats: copy each layer's rows out first.
    const int n = static_cast<int>(h.n_tokens);
    std::vector<float> rows(static_cast<size_t>(n) * row);
    const size_t bytes = rows.size() * sizeof(float);
    for (int l = 0; l < c.n_layers; ++l) {
        std::memcpy(rows.data(), p, bytes);
        scatter_kv(k_cache_, l, n, rows.data());
        p += bytes;
        std::memcpy(rows.data(), p, bytes);
        scatter_kv(v_cache_, l, n, rows.data());
        p += bytes;
    }
    tokens_.assign(tokens.begin(), tokens.end());
    sampler_.set_rng_state(h.rng_state);
}

}  // namespace edgelm
