// The decoder's forward pass over a batch of tokens (Session::forward_batch). Decoding
// is a batch of one; a prompt runs in batches of up to kMaxBatch, so each weight row is
// read once per batch instead of once per token.
//
// Per layer there are four parallel phases, each split across the pool by output rows
// or (token, head) pairs: q/k/v projections; attention; output projection; gate/up
// projections with SwiGLU; down projection. Norms, activation quantization and RoPE run
// on the calling thread between phases (they are O(dim) per token).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "runtime/session.h"

namespace edgelm {

ActivationRows& Session::activations(const float* x, int n, int64_t cols, DType act_type) {
    ActivationRows& a = act_type == DType::F32 ? act_f32_ : act_q8_;
    a.prepare(x, n, cols, cols, act_type);
    for_tokens(n, [&](int t) { a.convert(t, t + 1); });
    return a;
}

void Session::matmul(const WeightMatrix& w, const ActivationRows& act, float* out,
                     int64_t out_stride) {
    pool_.parallel_for(
        w.rows, [&](int64_t r0, int64_t r1) { matmul_rows(w, act, out + r0, out_stride, r0, r1); },
        32);
}

void Session::forward_batch(std::span<const TokenId> tokens, int pos0, bool all_logits,
                            float* logits_out, float* hidden_sum) {
    const int n = static_cast<int>(tokens.size());
    logit_rows_.clear();
    for (int t = 0; t < n; ++t) {
        row_session_[static_cast<size_t>(t)] = this;
        row_pos_[static_cast<size_t>(t)] = pos0 + t;
        row_pooled_[static_cast<size_t>(t)] = hidden_sum;
        if (logits_out && (all_logits || t == n - 1)) logit_rows_.push_back(t);
    }
    forward_rows(tokens.data(), n, logits_out);
}

void Session::forward_rows(const TokenId* tokens, int n, float* logits_out) {
    const ModelConfig& c = model_->config();
    const ModelWeights& w = model_->weights();
    const int dim = c.dim, hd = c.head_dim, q_dim = c.q_dim(), kv_dim = c.kv_dim(), ffn = c.ffn_dim;
    const int group = c.n_heads / c.n_kv_heads;
    const float att_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const size_t scores_stride = scores_.size() / static_cast<size_t>(pool_.size());
    const auto observe = [&](int layer, ActivationSite site, const float* rows, int m,
                             int64_t cols) {
        if (observer_) observer_(layer, site, rows, m, cols);
    };
    // Each run of rows [t0, t1) that belongs to one session, in order.
    const auto for_session_runs = [&](auto&& fn) {
        for (int t0 = 0; t0 < n;) {
            int t1 = t0 + 1;
            while (t1 < n &&
                   row_session_[static_cast<size_t>(t1)] == row_session_[static_cast<size_t>(t0)])
                ++t1;
            fn(*row_session_[static_cast<size_t>(t0)], t0, t1);
            t0 = t1;
        }
    };
    // LoRA: out += scale * alpha / rank * B (A x) for each adapter of the layer's target,
    // with each row's own session's adapters.
    const auto adapt = [&](int layer, LoraTarget target, const float* in, int64_t in_stride,
                           float* out, int64_t out_stride) {
        for_session_runs([&](const Session& s, int t0, int t1) {
            if (s.lora_.empty()) return;
            for (const auto& [m, factor] : s.lora_for(layer, target))
                apply_lora(*m, factor, in + t0 * in_stride, in_stride, t1 - t0,
                           out + t0 * out_stride, out_stride);
        });
    };
    const auto adapts = [&](int layer, LoraTarget target) {
        bool any = false;
        for_session_runs([&](const Session& s, int, int) {
            any = any || (!s.lora_.empty() && !s.lora_for(layer, target).empty());
        });
        return any;
    };

    for (int t = 0; t < n; ++t) matrix_row(x_.data() + t * dim, w.token_embd, tokens[t]);

    for (int l = 0; l < c.n_layers; ++l) {
        const LayerWeights& lw = w.layers[static_cast<size_t>(l)];

        // q, k, v of every row; k and v then go to its session's cache at its position
        for_tokens(n, [&](int t) {
            rmsnorm(xb_.data() + t * dim, x_.data() + t * dim, lw.attn_norm, dim, c.norm_eps);
        });
        observe(l, ActivationSite::AttentionInput, xb_.data(), n, dim);
        const ActivationRows& a_q = activations(xb_.data(), n, dim, lw.wq.traits->act_type);
        const ActivationRows& a_kv = lw.wk.traits->act_type == lw.wq.traits->act_type
                                         ? a_q
                                         : activations(xb_.data(), n, dim, lw.wk.traits->act_type);
        if (lw.wv.traits->act_type != lw.wk.traits->act_type)
            throw FormatError(
                model_->file().path() + ": layer " + std::to_string(l) +
                ": attn_k and attn_v need different activation formats; requantize the file");
        const int64_t rows_qkv = q_dim + 2 * static_cast<int64_t>(kv_dim);
        float* k_out = k_new_.data();
        float* v_out = v_new_.data();
        pool_.parallel_for(
            rows_qkv,
            [&](int64_t r0, int64_t r1) {
                // The three matrices as one row range: [0, q_dim) q, then k, then v.
                const int64_t q_end = q_dim, k_end = q_dim + kv_dim;
                if (r0 < q_end)
                    matmul_rows(lw.wq, a_q, q_.data() + r0, q_dim, r0, std::min(r1, q_end));
                if (r1 > q_end && r0 < k_end) {
                    const int64_t b = std::max(r0, q_end) - q_end, e = std::min(r1, k_end) - q_end;
                    matmul_rows(lw.wk, a_kv, k_out + b, kv_dim, b, e);
                }
                if (r1 > k_end) {
                    const int64_t b = std::max(r0, k_end) - k_end, e = r1 - k_end;
                    matmul_rows(lw.wv, a_kv, v_out + b, kv_dim, b, e);
                }
            },
            32);
        adapt(l, LoraTarget::Q, xb_.data(), dim, q_.data(), q_dim);
        adapt(l, LoraTarget::K, xb_.data(), dim, k_out, kv_dim);
        adapt(l, LoraTarget::V, xb_.data(), dim, v_out, kv_dim);
        for_tokens(n, [&](int t) {
            const Session& s = *row_session_[static_cast<size_t>(t)];
            const int pos = row_pos_[static_cast<size_t>(t)];
            s.rope_.apply(q_.data() + t * q_dim, c.n_heads, hd, pos);
            s.rope_.apply(k_out + static_cast<size_t>(t) * static_cast<size_t>(kv_dim),
                          c.n_kv_heads, hd, pos);
        });
        // Into each row's session's head-major cache, at the row's position.
        for (int t = 0; t < n; ++t) {
            Session& s = *row_session_[static_cast<size_t>(t)];
            const int pos = row_pos_[static_cast<size_t>(t)];
            for (int h = 0; h < c.n_kv_heads; ++h) {
                const size_t src = static_cast<size_t>(t) * static_cast<size_t>(kv_dim) +
                                   static_cast<size_t>(h) * static_cast<size_t>(hd);
                std::copy_n(k_out + src, hd, s.k_cache_.data() + s.kv_offset(l, h, pos));
                std::copy_n(v_out + src, hd, s.v_cache_.data() + s.kv_offset(l, h, pos));
            }
        }

        // Causal attention: row t attends over its session's positions 0..its own;
        // `group` query heads share one kv head. Output into xb_: (n, q_dim).
        float* att_out = xb_.data();
        pool_.run_on_all([&](int thread, int n_threads) {
            float* scores = scores_.data() + static_cast<size_t>(thread) * scores_stride;
            const int items = n * c.n_heads;
            // Interleaved: later tokens attend over more positions, so contiguous slices
            // would leave the first thread idle.
            for (int item = thread; item < items; item += n_threads) {
                const int t = item / c.n_heads, h = item % c.n_heads;
                const Session& s = *row_session_[static_cast<size_t>(t)];
                const int kvh = h / group, last = row_pos_[static_cast<size_t>(t)];
                attend(q_.data() + t * q_dim + h * hd, s.k_cache_.data() + s.kv_offset(l, kvh, 0),
                       s.v_cache_.data() + s.kv_offset(l, kvh, 0), hd, last + 1, hd, att_scale,
                       scores, att_out + t * q_dim + h * hd);
            }
        });
        observe(l, ActivationSite::AttentionOutput, att_out, n, q_dim);
        matmul(lw.wo, activations(att_out, n, q_dim, lw.wo.traits->act_type), proj_.data(), dim);
        adapt(l, LoraTarget::O, att_out, q_dim, proj_.data(), dim);
        for (int i = 0; i < n * dim; ++i)
            x_[static_cast<size_t>(i)] += proj_[static_cast<size_t>(i)];

        // Feed-forward: gate and up rows in one phase, SwiGLU applied to each range.
        for_tokens(n, [&](int t) {
            rmsnorm(xb_.data() + t * dim, x_.data() + t * dim, lw.ffn_norm, dim, c.norm_eps);
        });
        observe(l, ActivationSite::FfnInput, xb_.data(), n, dim);
        const ActivationRows& a_g = activations(xb_.data(), n, dim, lw.w_gate.traits->act_type);
        if (lw.w_up.traits->act_type != lw.w_gate.traits->act_type)
            throw FormatError(
                model_->file().path() + ": layer " + std::to_string(l) +
                ": ffn_gate and ffn_up need different activation formats; requantize the file");
        // SwiGLU in the same phase, unless adapters change gate or up first.
        const bool ffn_adapted = adapts(l, LoraTarget::Gate) || adapts(l, LoraTarget::Up);
        pool_.parallel_for(
            ffn,
            [&](int64_t r0, int64_t r1) {
                matmul_rows(lw.w_gate, a_g, hb_.data() + r0, ffn, r0, r1);
                matmul_rows(lw.w_up, a_g, hb2_.data() + r0, ffn, r0, r1);
                if (ffn_adapted) return;
                for (int t = 0; t < n; ++t)
                    swiglu(hb_.data() + t * ffn + r0, hb2_.data() + t * ffn + r0,
                           static_cast<int>(r1 - r0));
            },
            32);
        if (ffn_adapted) {
            adapt(l, LoraTarget::Gate, xb_.data(), dim, hb_.data(), ffn);
            adapt(l, LoraTarget::Up, xb_.data(), dim, hb2_.data(), ffn);
            for_tokens(n, [&](int t) { swiglu(hb_.data() + t * ffn, hb2_.data() + t * ffn, ffn); });
        }
        observe(l, ActivationSite::FfnHidden, hb_.data(), n, ffn);
        matmul(lw.w_down, activations(hb_.data(), n, ffn, lw.w_down.traits->act_type), proj_.data(),
               dim);
        adapt(l, LoraTarget::Down, hb_.data(), ffn, proj_.data(), dim);
        for (int i = 0; i < n * dim; ++i)
            x_[static_cast<size_t>(i)] += proj_[static_cast<size_t>(i)];
    }
    // The final normed states, summed per row's destination (eval_pooled, eval_batch).
    for (int t = 0; t < n; ++t) {
        float* sum = row_pooled_[static_cast<size_t>(t)];
        if (!sum) continue;
        rmsnorm(xb_.data(), x_.data() + t * dim, w.output_norm, dim, c.norm_eps);
        for (int i = 0; i < dim; ++i) sum[i] += xb_[static_cast<size_t>(i)];
    }
    if (!logits_out || logit_rows_.empty()) return;
    // Logits of the rows that want them, one output row each.
    const int m = static_cast<int>(logit_rows_.size());
    for (int i = 0; i < m; ++i)
        rmsnorm(xb_.data() + i * dim, x_.data() + logit_rows_[static_cast<size_t>(i)] * dim,
                w.output_norm, dim, c.norm_eps);
    observe(-1, ActivationSite::OutputInput, xb_.data(), m, dim);
    matmul(w.output, activations(xb_.data(), m, dim, w.output.traits->act_type), logits_out,
           c.vocab);
}

}  // namespace edgelm
