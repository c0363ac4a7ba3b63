// Hyper-parameters of a llama-family decoder, read from and written to GGUF
// (`{arch}.*` keys, llama.cpp's names).
#pragma once

#include <cstdint>
#include <string>

namespace edgelm {

class GgufFile;
class GgufWriter;

struct ModelConfig {
    std::string arch = "llama";
    int dim = 0;  // embedding width
    int n_layers = 0;
    int n_heads = 0;
    int n_kv_heads = 0;  // < n_heads: grouped-query attention
    int head_dim = 0;    // dim / n_heads unless the file says otherwise
    int ffn_dim = 0;     // SwiGLU hidden width
    int vocab = 0;
    int ctx = 0;       // trained context length
    int rope_dim = 0;  // dimensions rotated per head (<= head_dim)
    float rope_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // linear scaling: position * rope_freq_scale
    float norm_eps = 1e-5f;
    bool tied_output = false;  // logits use token_embd when output.weight is absent
    // Cross-layer sharing (ALBERT-style): the file stores `n_blocks` distinct blocks and
    // layer l runs block l / (n_layers / n_blocks). 0 = every layer has its own block.
    // Stored as `edgelm.shared_block_count`; llama.cpp cannot run such a file.
    int n_blocks = 0;

    int blocks() const { return n_blocks > 0 ? n_blocks : n_layers; }
    int block_of_layer(int layer) const { return layer / (n_layers / blocks()); }

    int q_dim() const { return n_heads * head_dim; }
    int kv_dim() const { return n_kv_heads * head_dim; }
    // Parameters of the decoder (counting a tied matrix once).
    uint64_t n_params() const;

    // Throws ArgumentError describing the first inconsistency.
    void validate() const;

    // A llama shape with head_dim = dim / heads, full rotary dimensions, default RoPE
    // base and norm epsilon.
    static ModelConfig llama(int dim, int layers, int heads, int kv_heads, int ffn, int vocab,
                             int ctx, bool tied_output);

    // Reads {arch}.* keys. Throws FormatError naming the key when one is missing or bad.
    static ModelConfig from_gguf(const GgufFile& file);
    void to_gguf(GgufWriter& writer) const;
};

}  // namespace edgelm
