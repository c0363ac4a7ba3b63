// The llama-family decoder in libtorch, matching the runtime (src/runtime/forward_pass.cpp)
// operation for operation: RMSNorm (x / sqrt(mean(x²) + eps) · w), RoPE on adjacent pairs
// (llama.cpp's "normal" rope) with angles computed in double as RopeTable does, grouped-query
// attention where head h reads kv head h / (heads / kv_heads), SwiGLU, tied or separate
// output. Weights keep the runtime's layout: a Linear's (out, in) matrix is the GGUF tensor
// with dims {in, out}, so export copies bytes without transposing or permuting.
//
// Cross-layer sharing (ALBERT-style, `--share-layers N`): N distinct blocks, layer i runs
// block i / (layers / N), so consecutive layers share weights (the runtime maps them the
// same way from `edgelm.block_count`).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include <array>
#include <initializer_list>
#include <map>

#include "core/dtype.h"
#include "runtime/lora_adapter.h"
#include "runtime/model_config.h"

namespace edgelm::train {

struct RmsNormImpl : torch::nn::Module {
    RmsNormImpl(int64_t dim, double eps);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;
    double eps;
};
TORCH_MODULE(RmsNorm);

struct BlockImpl : torch::nn::Module {
    explicit BlockImpl(const ModelConfig& c);
    // x: (B, T, dim); rot: (T, rope_dim / 2, 2) cos and sin; mask: (T, T) additive
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& rot,
                          const torch::Tensor& mask);

    // q, k and v are one matrix (rows: q, then k, then v), gate and up another: one
    // larger matmul each instead of three and two, and fewer autograd nodes. The
    // GGUF tensors are row ranges of them (gguf_named_parameters).
    RmsNorm attn_norm{nullptr}, ffn_norm{nullptr};
    torch::nn::Linear wqkv{nullptr}, wo{nullptr};
    torch::nn::Linear w_gate_up{nullptr}, w_down{nullptr};
    int64_t n_heads, n_kv_heads, head_dim, rope_dim, ffn_dim;
    DType qat = DType::F32;  // weights fake-quantized in the forward pass (train/fake_quant.h)

    // LoRA (runtime/lora_adapter.h): for each adapted target, A (rank, in) and B (out, rank),
    // and the output gains lora_scale * B A dropout(x). Indexed by LoraTarget.
    std::array<torch::Tensor, 7> lora_a, lora_b;
    double lora_scale = 0, lora_dropout = 0;
    // x W^T (+ the targets' LoRA terms, `targets` naming the row ranges of a fused W).
    torch::Tensor project(const torch::Tensor& x, const torch::nn::Linear& l,
                          std::initializer_list<std::pair<LoraTarget, int64_t>> targets);
};
TORCH_MODULE(Block);

struct LlamaModelImpl : torch::nn::Module {
    // n_blocks: distinct blocks (== c.n_layers unless layers are shared).
    LlamaModelImpl(const ModelConfig& c, int n_blocks);

    // tokens: (B, T) int64 -> logits (B, T, vocab). With checkpoint_blocks, each block's
    // activations are recomputed in the backward pass instead of kept.
    torch::Tensor forward(const torch::Tensor& tokens, bool checkpoint_blocks = false);
    // Hidden state after the final norm: (B, T, dim).
    torch::Tensor hidden(const torch::Tensor& tokens, bool checkpoint_blocks = false);
    torch::Tensor logits_from_hidden(const torch::Tensor& h);

    // The block layer l runs.
    Block& block_for_layer(int l) { return blocks[static_cast<size_t>(l / layers_per_block)]; }

    // Quantization-aware training at `type` (F32: off): every weight matrix, the embedding
    // included, is fake-quantized in the forward pass (train/fake_quant.h).
    void set_qat(DType type);
    DType qat = DType::F32;

    // Freezes every weight and adds LoRA matrices (A uniform in +-1/sqrt(in), B zero, so
    // training starts from the base model) for `targets` in every block.
    void add_lora(int64_t rank, double alpha, const std::vector<LoraTarget>& targets,
                  double dropout, uint64_t seed);
    // The trained adapter, as the runtime reads it.
    std::map<std::pair<int, LoraTarget>, LoraMatrix> lora_matrices();
    int64_t lora_rank = 0;
    double lora_alpha = 0;

    // GPT-2-style initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers),
    // norms 1. Deterministic for a seed.
    void init_weights(uint64_t seed);

    ModelConfig config;
    int layers_per_block;
    torch::nn::Embedding tok_embd{nullptr};
    std::vector<Block> blocks;
    RmsNorm output_norm{nullptr};
    torch::nn::Linear output{nullptr};  // absent when tied
    torch::Tensor rope;                 // buffer (ctx, rope_dim / 2, 2): cos and sin of each angle
    torch::Tensor causal_mask;  // buffer (ctx, ctx): 0 on and below the diagonal, -inf above
};
TORCH_MODULE(LlamaModel);

// Drops the gradients (set to undefined, not zero-filled: the next backward allocates them
// anew instead of reading and adding to zeros; libtorch 1.13's zero_grad cannot).
void clear_gradients(const std::vector<torch::Tensor>& params);

// Every GGUF tensor of the model with its runtime name (token_embd.weight,
// blk.N.attn_q.weight, ...): parameters, or row ranges (views) of the fused ones. Shared
// blocks are named by their block index.
std::vector<std::pair<std::string, torch::Tensor>> gguf_named_parameters(LlamaModelImpl& m);

}  // namespace edgelm::train
