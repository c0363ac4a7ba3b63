// Per-request state over a shared Model: KV cache, scratch buffers, token history,
// sampler. Buffers are sized once at construction; decoding a token allocates nothing.
// One Session is used by one thread at a time; run many sessions on one Model.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/lora_adapter.h"
#include "runtime/model.h"
#include "runtime/ops.h"
#include "runtime/sampler.h"

namespace edgelm {

// The float input rows of weight matrices, as a calibration pass sees them (edgelm quantize
// --calibration): the normed input of attn_q/k/v, the attention output that attn_output
// reads, the normed input of ffn_gate/up, the SwiGLU output that ffn_down reads, and the
// normed final state that the output matrix reads (layer -1).
enum class ActivationSite { AttentionInput, AttentionOutput, FfnInput, FfnHidden, OutputInput };
using ActivationObserver =
    std::function<void(int layer, ActivationSite site, const float* rows, int n, int64_t cols)>;

class Session;

// The first tokens of a session with their keys and values, kept in memory (a server's
// prefix cache): restored into any session of the same model and adapters, it continues
// exactly where this one was after those tokens.
struct SessionSnapshot {
    std::vector<TokenId> tokens;
    std::vector<float> kv;  // per layer: K then V rows, (tokens, kv_dim) each
    uint64_t fingerprint = 0;
    size_t bytes() const { return tokens.size() * sizeof(TokenId) + kv.size() * sizeof(float); }
};

// One session's share of a batch that several sessions run together (Session::eval_batch):
// its tokens are appended at its position, as Session::eval would append them.
struct BatchPart {
    Session* session = nullptr;
    std::span<const TokenId> tokens;
    bool logits = true;           // compute the last token's logits (then session->sample())
    float* pooled_sum = nullptr;  // if set: += each token's final normed hidden state (dim)
};

struct SessionParams {
    int n_ctx = 0;      // 0 = the model's trained context
    int n_threads = 1;  // >= 1
    SamplerParams sampler;
    std::vector<LoraBinding> lora;  // adapters applied on top of the model's weights
};

class Session {
  public:
    Session(std::shared_ptr<const Model> model, SessionParams params);

    // Runs tokens at the current position and appends them to the history. Returns the
    // logits of the last token (vocab), or of every token (n x vocab) if all_logits.
    // Throws ArgumentError if the tokens would overflow the context or are out of range.
    std::span<const float> eval(std::span<const TokenId> tokens, bool all_logits = false);

    // Runs tokens as eval does, without computing logits, and returns the mean of their
    // final normed hidden states (dim): the input of a classification head.
    std::span<const float> eval_pooled(std::span<const TokenId> tokens);

    // Runs the parts' tokens as one batch through the decoder with this session's threads
    // and scratch: each weight row is read once for all of them, and every session's
    // results are bit-identical to running its tokens alone (the kernels sum in one order
    // whatever the batch shape). A server decodes its slots' next tokens this way, with a
    // chunk of a new prompt beside them. Each part's session keeps its own cache, position,
    // adapters and sampler; this session's own state is untouched unless it is a part.
    // The sessions must be distinct and on this session's model, with at most
    // max_batch() tokens in all. Throws ArgumentError as eval does, before running any.
    void eval_batch(std::span<const BatchPart> parts);
    static constexpr int max_batch() { return kMaxBatch; }

    // Samples the next token from the last logits (eval must have run).
    TokenId sample();

    // The logits of the last token run (vocab): what sample() draws from.
    std::span<const float> last_logits() const { return last_logits_; }

    int position() const { return static_cast<int>(tokens_.size()); }
    int n_ctx() const { return n_ctx_; }
    const std::vector<TokenId>& tokens() const { return tokens_; }
    const Model& model() const { return *model_; }
    Sampler& sampler() { return sampler_; }

    // Calls `observer` with the input rows of every matrix product from now on (null: stop).
    void set_activation_observer(ActivationObserver observer) { observer_ = std::move(observer); }

    // Replaces the LoRA adapters applied from the next eval on, without reloading the model
    // (the cached keys and values were computed with the previous ones: reset() to start
    // over with the new). Throws ArgumentError for an adapter made for another shape.
    void set_lora(std::vector<LoraBinding> adapters);
    const std::vector<LoraBinding>& lora() const { return lora_; }

    // Forgets all tokens (the KV cache is overwritten lazily).
    void reset();
    // Keeps the first n tokens and forgets the rest (n <= position()).
    void truncate(int n);

    // Writes tokens, KV cache, last logits and sampler state atomically to `path`; a
    // later load_state on a session of the same model resumes exactly there (a prompt
    // cache). load_state throws FormatError if the file is damaged or from another model.
    void save_state(const std::string& path) const;
    void load_state(const std::string& path);

    // The first n tokens (n <= position()) and their keys and values, in memory.
    SessionSnapshot snapshot(int n) const;
    // Continues from a snapshot: its tokens become this session's, their keys and values
    // its cache. The last logits are not restored: run at least one token before sample().
    // Throws ArgumentError for a snapshot of another model or adapters, or too long.
    void restore(const SessionSnapshot& snapshot);

  private:
    // Runs up to kMaxBatch tokens at positions pos0.. through the decoder, writing
    // logits of every token (all_logits) or of the last one into logits_out.
    // With hidden_sum, adds each token's final normed hidden state to it (dim).
    void forward_batch(std::span<const TokenId> tokens, int pos0, bool all_logits,
                       float* logits_out, float* hidden_sum = nullptr);
    // The decoder over n rows described by row_session_, row_pos_ and row_pooled_ (each
    // session's rows consecutive, at consecutive positions), with this session's scratch
    // and threads. Logits of the rows listed in logit_rows_ go to logits_out (one per row).
    void forward_rows(const TokenId* tokens, int n, float* logits_out);
    void check_tokens(std::span<const TokenId> tokens) const;
    void matmul(const WeightMatrix& w, const ActivationRows& act, float* out, int64_t out_stride);
    ActivationRows& activations(const float* x, int n, int64_t cols, DType act_type);
    // Runs fn(t) for tokens t < n: inline for a handful (decoding), else across the pool.
    template <typename F>
    void for_tokens(int n, F&& fn) {
        if (n < 8) {
            for (int t = 0; t < n; ++t) fn(t);
            return;
        }
        pool_.parallel_for(n, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) fn(static_cast<int>(t));
        });
    }

    static constexpr int kMaxBatch = 64;

    std::shared_ptr<const Model> model_;
    int n_ctx_;
    ThreadPool pool_;
    Sampler sampler_;
    std::vector<TokenId> tokens_;
    RopeTable rope_;

    // KV cache: (layer, kv_head, n_ctx, head_dim) each. Head-major, so attention reads
    // each head's keys and values as one sequential stream.
    std::vector<float> k_cache_, v_cache_;
    // Offset of (layer, kv_head, pos) in a cache.
    size_t kv_offset(int layer, int kv_head, int pos) const;
    // One layer's cache rows for positions [0, n) as (n, kv_dim), and back: the session
    // state file's token-major layout.
    void gather_kv(const std::vector<float>& cache, int layer, int n, float* out) const;
    void scatter_kv(std::vector<float>& cache, int layer, int n, const float* in);
    // Scratch for a batch of up to kMaxBatch tokens (sizes per token in comments).
    // Adapters of each layer's target: (matrix, scale * alpha / rank).
    using LoraTerms = std::vector<std::pair<const LoraMatrix*, float>>;
    const LoraTerms& lora_for(int layer, LoraTarget t) const {
        return lora_terms_[static_cast<size_t>(layer) * kLoraTargets.size() +
                           static_cast<size_t>(t)];
    }
    std::vector<LoraBinding> lora_;
    // Per (layer, target), built by set_lora so that the forward pass looks them up
    // without allocating: empty when nothing adapts it.
    std::vector<LoraTerms> lora_terms_;
    // The model's fingerprint, mixed with the active adapters' (and their scales): what a
    // saved state was computed with.
    uint64_t state_fingerprint() const;

    std::vector<float> x_;              // (dim) residual stream
    std::vector<float> xb_;             // (max(dim, q_dim)) normed input / attention output
    std::vector<float> q_;              // (q_dim)
    std::vector<float> hb_;             // (ffn) gate, then swiglu output
    std::vector<float> hb2_;            // (ffn) up
    std::vector<float> proj_;           // (dim) block output before the residual add
    std::vector<float> k_new_, v_new_;  // (kv_dim) this batch's keys and values
    std::vector<float> scores_;         // (n_threads, n_ctx) attention scores
    std::vector<float> logits_;         // (n, vocab) when all logits are wanted
    std::vector<float> last_logits_;    // (vocab)
    std::vector<float> pooled_;         // (dim) eval_pooled's result
    std::vector<float> batch_logits_;   // (parts, vocab) eval_batch's logits
    // Per row of the batch being run (kMaxBatch each): whose cache, rope and adapters it
    // uses, its position, where its pooled state is summed; and the rows wanting logits.
    std::vector<Session*> row_session_;
    std::vector<int> row_pos_;
    std::vector<float*> row_pooled_;
    std::vector<int> logit_rows_;
    std::vector<TokenId> batch_tokens_;
    ActivationRows act_f32_, act_q8_;
    ActivationObserver observer_;
};

}  // namespace edgelm
