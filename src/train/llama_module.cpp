#include "train/llama_module.h"

#include "train/fake_quant.h"

#include <cmath>

#include "gguf/gguf_keys.h"

namespace edgelm::train {

namespace {

torch::nn::Linear linear(int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// Runs a block without keeping its activations; the backward pass runs it again with
// autograd on and back-propagates through the recomputed graph (the reentrant scheme of
// torch.utils.checkpoint, which libtorch's C++ API does not offer). Parameter gradients
// accumulate into .grad during that inner backward.
struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                                 int64_t block_address, torch::Tensor rot, torch::Tensor mask) {
        ctx->save_for_backward({x, rot, mask});
        ctx->saved_data["block"] = block_address;
        auto* block = reinterpret_cast<BlockImpl*>(block_address);
        return block->forward(x, rot, mask);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grad_out) {
        const auto saved = ctx->get_saved_variables();
        auto* block = reinterpret_cast<BlockImpl*>(ctx->saved_data["block"].toInt());
        torch::Tensor x = saved[0].detach().requires_grad_(true);
        torch::Tensor out;
        {
            torch::AutoGradMode enable(true);
            out = block->forward(x, saved[1], saved[2]);
        }
        torch::autograd::backward({out}, {grad_out[0]});
        return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

// Rotates adjacent pairs of the first rope_dim dimensions of each head: each pair is a
// complex number multiplied by e^(i·theta) (one fused op forward and backward, where
// selecting the two halves costs several ops and zero-filled gradients).
// x: (B, T, H, head_dim); rot: (T, rope_dim / 2, 2) holding (cos, sin)
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& rot, int64_t rope_dim) {
    const int64_t head_dim = x.size(3);
    const auto sizes = x.sizes();
    // fp32 at least (bf16 has no complex type), double in the gradient check.
    const auto real_type = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    // (Narrowing only when part of the head rotates: its backward zero-fills a full copy.)
    const torch::Tensor rotated = rope_dim == head_dim ? x : x.narrow(3, 0, rope_dim);
    const torch::Tensor pairs =
        rotated.to(real_type).reshape({sizes[0], sizes[1], sizes[2], -1, 2});
    const torch::Tensor e = torch::view_as_complex(rot.to(real_type).contiguous());
    torch::Tensor out = torch::view_as_real(torch::view_as_complex(pairs.contiguous()) *
                                            e.unsqueeze(0).unsqueeze(2))
                            .flatten(3)
                            .to(x.scalar_type());
    if (rope_dim == head_dim) return out;
    return torch::cat({out, x.narrow(3, rope_dim, head_dim - rope_dim)}, 3);
}

}  // namespace

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_) : eps(eps_) {
    weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
    return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * weight;
}

BlockImpl::BlockImpl(const ModelConfig& c)
    : n_heads(c.n_heads),
      n_kv_heads(c.n_kv_heads),
      head_dim(c.head_dim),
      rope_dim(c.rope_dim),
      ffn_dim(c.ffn_dim) {
    attn_norm = register_module("attn_norm", RmsNorm(c.dim, c.norm_eps));
    wqkv = register_module("wqkv", linear(c.dim, c.q_dim() + 2 * c.kv_dim()));
    wo = register_module("wo", linear(c.q_dim(), c.dim));
    ffn_norm = register_module("ffn_norm", RmsNorm(c.dim, c.norm_eps));
    w_gate_up = register_module("w_gate_up", linear(c.dim, 2 * c.ffn_dim));
    w_down = register_module("w_down", linear(c.ffn_dim, c.dim));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& rot,
                                 const torch::Tensor& mask) {
    const int64_t B = x.size(0), T = x.size(1);
    const int64_t q_rows = n_heads * head_dim, kv_rows = n_kv_heads * head_dim;
    const torch::Tensor qkv =
        project(attn_norm(x), wqkv,
                {{LoraTarget::Q, q_rows}, {LoraTarget::K, kv_rows}, {LoraTarget::V, kv_rows}})
            .view({B, T, n_heads + 2 * n_kv_heads, head_dim});
    torch::Tensor q = qkv.narrow(2, 0, n_heads);
    torch::Tensor k = qkv.narrow(2, n_heads, n_kv_heads);
    torch::Tensor v = qkv.narrow(2, n_heads + n_kv_heads, n_kv_heads);
    q = apply_rope(q, rot, rope_dim).transpose(1, 2);  // (B, H, T, hd)
    k = apply_rope(k, rot, rope_dim).transpose(1, 2);
    v = v.transpose(1, 2);
    if (n_kv_heads != n_heads) {
        k = k.repeat_interleave(n_heads / n_kv_heads, 1);
        v = v.repeat_interleave(n_heads / n_kv_heads, 1);
    }
    // Scaled scores plus the causal mask (0 on and below the diagonal, -inf above).
    const torch::Tensor scores =
        torch::baddbmm(mask.to(q.scalar_type()).expand({B * n_heads, T, T}),
                       q.reshape({B * n_heads, T, head_dim}),
                       k.reshape({B * n_heads, T, head_dim}).transpose(1, 2), 1.0,
                       1.0 / std::sqrt(static_cast<double>(head_dim)))
            .view({B, n_heads, T, T});
    // Softmax at least in fp32 (under bf16 autocast the scores are bf16), else in the
    // model's own precision (double in the gradient check).
    const auto softmax_type =
        scores.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    const torch::Tensor att = torch::softmax(scores, -1, softmax_type).to(v.scalar_type());
    const torch::Tensor y = torch::matmul(att, v).transpose(1, 2).reshape({B, T, -1});
    const torch::Tensor x2 = x + project(y, wo, {{LoraTarget::O, wo->weight.size(0)}});
    const torch::Tensor gate_up =
        project(ffn_norm(x2), w_gate_up, {{LoraTarget::Gate, ffn_dim}, {LoraTarget::Up, ffn_dim}});
    return x2 +
           project(torch::silu(gate_up.narrow(2, 0, ffn_dim)) * gate_up.narrow(2, ffn_dim, ffn_dim),
                   w_down, {{LoraTarget::Down, w_down->weight.size(0)}});
}

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c, int n_blocks)
    : config(c), layers_per_block(c.n_layers / n_blocks) {
    tok_embd = register_module("tok_embd", torch::nn::Embedding(c.vocab, c.dim));
    for (int b = 0; b < n_blocks; ++b)
        blocks.push_back(register_module("blk" + std::to_string(b), Block(c)));
    output_norm = register_module("output_norm", RmsNorm(c.dim, c.norm_eps));
    if (!c.tied_output) output = register_module("output", linear(c.dim, c.vocab));

    // The runtime's RopeTable: angles in double, cos and sin rounded to float.
    const int64_t half = c.rope_dim / 2;
    torch::Tensor pos = torch::arange(c.ctx, torch::kDouble).unsqueeze(1);
    torch::Tensor i = torch::arange(half, torch::kDouble).unsqueeze(0);
    torch::Tensor inv_freq =
        torch::pow(static_cast<double>(c.rope_base), -2.0 * i / c.rope_dim) * c.rope_freq_scale;
    torch::Tensor theta = pos * inv_freq;
    rope = register_buffer(
        "rope", torch::stack({torch::cos(theta), torch::sin(theta)}, 2).to(torch::kFloat));
    causal_mask = register_buffer(
        "causal_mask",
        torch::full({c.ctx, c.ctx}, -std::numeric_limits<float>::infinity()).triu(1));
}

torch::Tensor LlamaModelImpl::hidden(const torch::Tensor& tokens, bool checkpoint_blocks) {
    const int64_t T = tokens.size(1);
    torch::Tensor x = qat == DType::F32
                          ? tok_embd(tokens)
                          : torch::embedding(fake_quantize(tok_embd->weight, qat), tokens);
    const torch::Tensor rot = rope.narrow(0, 0, T);
    const torch::Tensor mask = causal_mask.narrow(0, 0, T).narrow(1, 0, T);
    for (int l = 0; l < config.n_layers; ++l) {
        Block& b = block_for_layer(l);
        if (checkpoint_blocks && is_training() && torch::GradMode::is_enabled()) {
            x = CheckpointedBlock::apply(x, reinterpret_cast<int64_t>(b.get()), rot, mask);
        } else {
            x = b->forward(x, rot, mask);
        }
    }
    return output_norm(x);
}

torch::Tensor LlamaModelImpl::logits_from_hidden(const torch::Tensor& h) {
    return torch::matmul(h, fake_quantize(output ? output->weight : tok_embd->weight, qat).t());
}

torch::Tensor BlockImpl::project(const torch::Tensor& x, const torch::nn::Linear& l,
                                 std::initializer_list<std::pair<LoraTarget, int64_t>> targets) {
    // The matrix as the forward pass sees it: fake-quantized under QAT.
    torch::Tensor y = torch::nn::functional::linear(x, fake_quantize(l->weight, qat));
    bool any = false;
    for (const auto& [t, rows] : targets) any = any || lora_a[static_cast<size_t>(t)].defined();
    if (!any) return y;
    const torch::Tensor xd =
        lora_dropout > 0 && is_training() ? torch::dropout(x, lora_dropout, true) : x;
    std::vector<torch::Tensor> parts;
    for (const auto& [t, rows] : targets) {
        const torch::Tensor& a = lora_a[static_cast<size_t>(t)];
        if (a.defined()) {
            parts.push_back(
                torch::matmul(torch::matmul(xd, a.t()), lora_b[static_cast<size_t>(t)].t()) *
                lora_scale);
        } else {
            std::vector<int64_t> shape = y.sizes().vec();
            shape.back() = rows;
            parts.push_back(torch::zeros(shape, y.options()));
        }
    }
    return y + (parts.size() == 1 ? parts[0] : torch::cat(parts, -1));
}

void LlamaModelImpl::add_lora(int64_t rank, double alpha, const std::vector<LoraTarget>& targets,
                              double dropout, uint64_t seed) {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : parameters()) p.set_requires_grad(false);
    auto gen = at::detail::createCPUGenerator(seed ^ 0x10fa);
    lora_rank = rank;
    lora_alpha = alpha;
    for (size_t b = 0; b < blocks.size(); ++b) {
        BlockImpl& blk = *blocks[b];
        blk.lora_scale = alpha / static_cast<double>(rank);
        blk.lora_dropout = dropout;
        for (LoraTarget t : targets) {
            const auto [rows, cols] = lora_target_shape(config, t);
            const double bound = 1.0 / std::sqrt(static_cast<double>(cols));
            const std::string name = std::string("lora_") + lora_target_name(t);
            blk.lora_a[static_cast<size_t>(t)] = blk.register_parameter(
                name + "_a", torch::empty({rank, cols}).uniform_(-bound, bound, gen));
            blk.lora_b[static_cast<size_t>(t)] =
                blk.register_parameter(name + "_b", torch::zeros({rows, rank}));
        }
    }
}

std::map<std::pair<int, LoraTarget>, LoraMatrix> LlamaModelImpl::lora_matrices() {
    std::map<std::pair<int, LoraTarget>, LoraMatrix> out;
    for (size_t b = 0; b < blocks.size(); ++b)
        for (LoraTarget t : kLoraTargets) {
            const torch::Tensor& a = blocks[b]->lora_a[static_cast<size_t>(t)];
            if (!a.defined()) continue;
            const torch::Tensor ac = a.detach().to(torch::kFloat).contiguous();
            const torch::Tensor bc =
                blocks[b]->lora_b[static_cast<size_t>(t)].detach().to(torch::kFloat).contiguous();
            LoraMatrix m;
            m.rank = ac.size(0);
            m.cols = ac.size(1);
            m.rows = bc.size(0);
            m.a.assign(ac.data_ptr<float>(), ac.data_ptr<float>() + ac.numel());
            m.b.assign(bc.data_ptr<float>(), bc.data_ptr<float>() + bc.numel());
            out[{static_cast<int>(b), t}] = std::move(m);
        }
    return out;
}

void LlamaModelImpl::set_qat(DType type) {
    qat = type;
    for (Block& b : blocks) b->qat = type;
}

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& tokens, bool checkpoint_blocks) {
    return logits_from_hidden(hidden(tokens, checkpoint_blocks));
}

void LlamaModelImpl::init_weights(uint64_t seed) {
    torch::NoGradGuard no_grad;
    auto gen = at::detail::createCPUGenerator(seed);
    const double residual_std = 0.02 / std::sqrt(2.0 * config.n_layers);
    for (auto& item : named_parameters()) {
        torch::Tensor& p = item.value();
        const std::string& name = item.key();
        if (p.dim() == 1) {
            p.fill_(1.0);
        } else {
            const bool residual = name.find(".wo.") != std::string::npos ||
                                  name.find(".w_down.") != std::string::npos;
            p.normal_(0.0, residual ? residual_std : 0.02, gen);
        }
    }
}

void clear_gradients(const std::vector<torch::Tensor>& params) {
    for (const torch::Tensor& p : params) const_cast<torch::Tensor&>(p).mutable_grad().reset();
}

std::vector<std::pair<std::string, torch::Tensor>> gguf_named_parameters(LlamaModelImpl& m) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    out.emplace_back(keys::kTokenEmbd, m.tok_embd->weight);
    out.emplace_back(keys::kOutputNorm, m.output_norm->weight);
    if (m.output) out.emplace_back(keys::kOutput, m.output->weight);
    for (size_t b = 0; b < m.blocks.size(); ++b) {
        BlockImpl& blk = *m.blocks[b];
        const int i = static_cast<int>(b);
        const int64_t q = blk.n_heads * blk.head_dim, kv = blk.n_kv_heads * blk.head_dim;
        const torch::Tensor& qkv = blk.wqkv->weight;
        const torch::Tensor& gate_up = blk.w_gate_up->weight;
        out.emplace_back(keys::block_tensor(i, keys::kAttnNorm), blk.attn_norm->weight);
        out.emplace_back(keys::block_tensor(i, keys::kAttnQ), qkv.narrow(0, 0, q));
        out.emplace_back(keys::block_tensor(i, keys::kAttnK), qkv.narrow(0, q, kv));
        out.emplace_back(keys::block_tensor(i, keys::kAttnV), qkv.narrow(0, q + kv, kv));
        out.emplace_back(keys::block_tensor(i, keys::kAttnOutput), blk.wo->weight);
        out.emplace_back(keys::block_tensor(i, keys::kFfnNorm), blk.ffn_norm->weight);
        out.emplace_back(keys::block_tensor(i, keys::kFfnGate), gate_up.narrow(0, 0, blk.ffn_dim));
        out.emplace_back(keys::block_tensor(i, keys::kFfnUp),
                         gate_up.narrow(0, blk.ffn_dim, blk.ffn_dim));
        out.emplace_back(keys::block_tensor(i, keys::kFfnDown), blk.w_down->weight);
    }
    return out;
}

}  // namespace edgelm::train
