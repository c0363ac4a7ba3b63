// plan_training and device presets: what a shape costs before any training starts.
#include "core/error.h"
#include "runtime/model_config.h"
#include "train/trainer.h"

namespace edgelm::train {

TrainPlan plan_training(const TrainOptions& o) {
    ModelConfig c = o.shape;
    c.n_blocks = o.shared_blocks;
    c.validate();
    TrainPlan p;
    p.params = c.n_params();
    const uint64_t embed = static_cast<uint64_t>(c.dim) * static_cast<uint64_t>(c.vocab);
    const uint64_t norms =
        static_cast<uint64_t>(c.dim) * (2 * static_cast<uint64_t>(c.blocks()) + 1);
    const uint64_t matrices = p.params - norms;
    p.bytes_f32 = p.params * 4;
    p.bytes_f16 = matrices * 2 + norms * 4;
    // Q8_0: 34 bytes per 32 weights; Q4_0: 18 bytes per 32 (norms stay f32).
    p.bytes_q8_0 = matrices / 32 * 34 + norms * 4;
    p.bytes_q4_0 = matrices / 32 * 18 + norms * 4;
    p.kv_cache_bytes = 2ull * static_cast<uint64_t>(c.n_layers) * static_cast<uint64_t>(c.ctx) *
                       static_cast<uint64_t>(c.kv_dim()) * 4;
    // Saved activations per micro-batch (fp32): per layer about 16·dim + 3·ffn floats per
    // token plus heads·T attention probabilities, and the logits with their gradient.
    const uint64_t rows = static_cast<uint64_t>(o.batch_size / std::max(1, o.grad_accum));
    const uint64_t tokens = rows * static_cast<uint64_t>(c.ctx);
    const uint64_t per_layer =
        tokens * (16ull * static_cast<uint64_t>(c.dim) + 3ull * static_cast<uint64_t>(c.ffn_dim)) +
        rows * static_cast<uint64_t>(c.n_heads) * static_cast<uint64_t>(c.ctx) *
            static_cast<uint64_t>(c.ctx) * 2;
    p.train_activation_bytes = 4 * (per_layer * static_cast<uint64_t>(c.n_layers) +
                                    2 * tokens * static_cast<uint64_t>(c.vocab));
    p.train_state_bytes = p.params * 4 * 4;
    // Matmul FLOPs: 6 per weight per token (forward 2, backward 4) over the weights each
    // token passes through (shared blocks count once per layer run), plus attention's
    // q·k and p·v, 12·layers·ctx·q_dim per token for forward + backward (causal: half).
    const double per_layer_weights =
        static_cast<double>(c.dim) * (2.0 * c.q_dim() + 2.0 * c.kv_dim() + 3.0 * c.ffn_dim);
    const double weights_per_token = per_layer_weights * c.n_layers + static_cast<double>(embed);
    p.flops_per_token =
        6.0 * weights_per_token + 6.0 * c.n_layers * static_cast<double>(c.ctx) * c.q_dim();
    p.total_flops = p.flops_per_token * static_cast<double>(o.max_steps) * o.batch_size * c.ctx;
    return p;
}

DevicePreset device_preset(const std::string& name, int vocab, int ctx) {
    // Shapes chosen so that with a 4k–8k vocabulary each lands in its profile's range at
    // its intended quantization (see docs/training.md): deep-and-narrow, as MobileLLM found
    // better than wide-and-shallow at these sizes, with grouped-query attention.
    DevicePreset p;
    p.name = name;
    if (name == "mcu") {
        p.description = "microcontroller-class: 1-20M parameters, 0.5-5 MB at Q4_0";
        p.shape = ModelConfig::llama(256, 8, 8, 4, 704, vocab, ctx, true);
        p.intended_type = DType::Q4_0;
    } else if (name == "iot") {
        p.description = "IoT gateway: 10-100M parameters, 5-50 MB at Q8_0";
        p.shape = ModelConfig::llama(512, 12, 8, 4, 1408, vocab, ctx, true);
        p.intended_type = DType::Q8_0;
    } else if (name == "mobile") {
        p.description = "phone: 50-300M parameters, 50-200 MB at Q8_0";
        p.shape = ModelConfig::llama(768, 20, 12, 4, 2048, vocab, ctx, true);
        p.intended_type = DType::Q8_0;
    } else {
        throw ArgumentError("unknown --preset '" + name + "' (choose mcu, iot or mobile)");
    }
    return p;
}

}  // namespace edgelm::train
