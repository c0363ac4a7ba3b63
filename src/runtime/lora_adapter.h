// LoRA adapters (Hu et al., 2021) in llama.cpp's GGUF layout: `general.type = adapter`,
// `adapter.type = lora`, `adapter.lora.alpha`, and for each adapted matrix
// `blk.N.NAME.weight.lora_a` (GGUF dims {in, rank}) and `...lora_b` ({rank, out}). The
// adapted matrix is W + scale * alpha / rank * B A, so llama.cpp's `--lora` runs the
// files edgelm writes and the other way round.
//
// The runtime applies adapters without touching the base weights: after each adapted
// matrix product it adds scale * alpha / rank * B (A x) for the batch (a few rank-sized
// products per token), so a Session can switch adapters (Session::set_lora) while the
// model, shared by every session, stays as loaded. `merge_lora` bakes them in instead.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model_config.h"

namespace edgelm {

// The matrices an adapter may target, as `--lora targets=` names them.
enum class LoraTarget { Q, K, V, O, Gate, Up, Down };
constexpr std::array<LoraTarget, 7> kLoraTargets = {
    LoraTarget::Q,    LoraTarget::K,  LoraTarget::V,   LoraTarget::O,
    LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down};
const char* lora_target_name(LoraTarget t);    // "q", "k", ..., "down"
const char* lora_target_tensor(LoraTarget t);  // "attn_q.weight", ...
std::optional<LoraTarget> parse_lora_target(const std::string& name);
// (rows, cols) of the target's matrix in a model of this shape.
std::pair<int64_t, int64_t> lora_target_shape(const ModelConfig& c, LoraTarget t);

struct LoraMatrix {
    int64_t rank = 0, rows = 0, cols = 0;  // B A is rows x cols
    std::vector<float> a;                  // rank x cols
    std::vector<float> b;                  // rows x rank
};

class LoraAdapter {
  public:
    // Reads an adapter and checks it against the base model's shape: every tensor must
    // name a block and a target of this model with matching sizes, and one rank. Throws
    // FormatError naming the file and tensor otherwise.
    static std::shared_ptr<const LoraAdapter> load(const std::string& path,
                                                   const ModelConfig& base);

    const std::string& path() const { return path_; }
    // FNV-1a of the file's bytes: identifies the adapter in saved session states.
    uint64_t content_hash() const { return hash_; }
    float alpha() const { return alpha_; }
    int64_t rank() const { return rank_; }
    // The adapter of `block`'s target, or null.
    const LoraMatrix* find(int block, LoraTarget t) const;
    const std::map<std::pair<int, LoraTarget>, LoraMatrix>& matrices() const { return matrices_; }

  private:
    std::string path_;
    uint64_t hash_ = 0;
    float alpha_ = 0;
    int64_t rank_ = 0;
    std::map<std::pair<int, LoraTarget>, LoraMatrix> matrices_;
};

// An adapter as a session applies it: effective weight scale * alpha / rank.
struct LoraBinding {
    std::shared_ptr<const LoraAdapter> adapter;
    float scale = 1.0f;
};

// Parses "FILE[:SCALE]" (`--lora`). Throws ArgumentError for a bad scale.
std::pair<std::string, float> parse_lora_argument(const std::string& arg);

// out[t * out_stride + i] += factor * (B (A x_t))_i for n rows x_t (x_stride floats apart).
void apply_lora(const LoraMatrix& m, float factor, const float* x, int64_t x_stride, int n,
                float* out, int64_t out_stride);

// Writes an adapter (f32 tensors) for a base of shape `base`.
void write_lora_adapter(const std::string& path, const ModelConfig& base, float alpha,
                        const std::map<std::pair<int, LoraTarget>, LoraMatrix>& matrices);

// Writes base + the adapters (each at its scale) as a plain model: adapted matrices are
// decoded, added to and re-encoded at their stored type (a quantized base is requantized
// once). Throws ArgumentError for a base stored clustered or sparse, or an output path
// equal to the base's.
void merge_lora(const std::string& base_path, const std::string& out_path,
                const std::vector<LoraBinding>& adapters);

}  // namespace edgelm
