// Every GGUF key and tensor name edgelm reads or writes, in one place. The names are
// llama.cpp's, so files move between the two tools; keys that only edgelm understands
// live under `edgelm.` and go with an architecture name of edgelm's own.
#pragma once

#include <string>

namespace edgelm::keys {

// general.*
inline constexpr const char* kArchitecture = "general.architecture";
inline constexpr const char* kName = "general.name";
inline constexpr const char* kFileType = "general.file_type";
inline constexpr const char* kQuantizationVersion = "general.quantization_version";
inline constexpr const char* kAlignment = "general.alignment";
inline constexpr const char* kGeneralType = "general.type";  // "model", or "adapter"
// LoRA adapters (llama.cpp's layout; runtime/lora_adapter.h).
inline constexpr const char* kAdapterType = "adapter.type";  // "lora"
inline constexpr const char* kAdapterLoraAlpha = "adapter.lora.alpha";

// {arch}.* — compose with arch_key("llama", kContextLength).
inline constexpr const char* kContextLength = "context_length";
inline constexpr const char* kEmbeddingLength = "embedding_length";
inline constexpr const char* kBlockCount = "block_count";
inline constexpr const char* kFeedForwardLength = "feed_forward_length";
inline constexpr const char* kHeadCount = "attention.head_count";
inline constexpr const char* kHeadCountKv = "attention.head_count_kv";
inline constexpr const char* kKeyLength = "attention.key_length";
inline constexpr const char* kValueLength = "attention.value_length";
inline constexpr const char* kRmsEpsilon = "attention.layer_norm_rms_epsilon";
inline constexpr const char* kRopeDimensionCount = "rope.dimension_count";
inline constexpr const char* kRopeFreqBase = "rope.freq_base";
inline constexpr const char* kRopeScalingType = "rope.scaling.type";
inline constexpr const char* kRopeScalingFactor = "rope.scaling.factor";
inline constexpr const char* kVocabSize = "vocab_size";

inline std::string arch_key(const std::string& arch, const char* suffix) {
    return arch + "." + suffix;
}

// tokenizer.ggml.*
inline constexpr const char* kTokModel = "tokenizer.ggml.model";
inline constexpr const char* kTokPre = "tokenizer.ggml.pre";
inline constexpr const char* kTokTokens = "tokenizer.ggml.tokens";
inline constexpr const char* kTokScores = "tokenizer.ggml.scores";
inline constexpr const char* kTokTypes = "tokenizer.ggml.token_type";
inline constexpr const char* kTokMerges = "tokenizer.ggml.merges";
inline constexpr const char* kTokBos = "tokenizer.ggml.bos_token_id";
inline constexpr const char* kTokEos = "tokenizer.ggml.eos_token_id";
inline constexpr const char* kTokUnk = "tokenizer.ggml.unknown_token_id";
inline constexpr const char* kTokPad = "tokenizer.ggml.padding_token_id";
inline constexpr const char* kTokAddBos = "tokenizer.ggml.add_bos_token";
inline constexpr const char* kTokAddEos = "tokenizer.ggml.add_eos_token";
inline constexpr const char* kTokAddSpacePrefix = "tokenizer.ggml.add_space_prefix";

// Tensor names (llama.cpp's LLM_TENSOR_* names for the llama architecture).
inline constexpr const char* kTokenEmbd = "token_embd.weight";
inline constexpr const char* kOutputNorm = "output_norm.weight";
inline constexpr const char* kOutput = "output.weight";
inline constexpr const char* kRopeFreqs = "rope_freqs.weight";
inline constexpr const char* kAttnNorm = "attn_norm.weight";
inline constexpr const char* kAttnQ = "attn_q.weight";
inline constexpr const char* kAttnK = "attn_k.weight";
inline constexpr const char* kAttnV = "attn_v.weight";
inline constexpr const char* kAttnOutput = "attn_output.weight";
inline constexpr const char* kFfnNorm = "ffn_norm.weight";
inline constexpr const char* kFfnGate = "ffn_gate.weight";
inline constexpr const char* kFfnUp = "ffn_up.weight";
inline constexpr const char* kFfnDown = "ffn_down.weight";

// edgelm.*: cross-layer sharing (ModelConfig::n_blocks).
inline constexpr const char* kSharedBlockCount = "edgelm.shared_block_count";

// edgelm.*: a weight matrix stored clustered (`edgelm cluster`, runtime/clustered_weights.h):
// key kClusteredPrefix + NAME holds its dims [cols, rows]; tensors NAME + kCodebookSuffix
// (f16 centers, [k] or [k, rows]), NAME + kCodeLengthsSuffix (i8 Huffman code lengths, [k])
// and NAME + kCodesSuffix (i8 Huffman bit stream) replace the tensor NAME; NAME +
// kRowScalesSuffix (f16, [rows]), if present, multiplies each row.
inline constexpr const char* kClusteredPrefix = "edgelm.clustered.";
inline constexpr const char* kCodebookSuffix = ".codebook";
inline constexpr const char* kCodeLengthsSuffix = ".code_lengths";
inline constexpr const char* kCodesSuffix = ".codes";
inline constexpr const char* kRowScalesSuffix = ".row_scales";

// edgelm.*: a weight matrix stored sparse (`edgelm prune --sparsity`,
// runtime/sparse_weights.h): key kSparsePrefix + NAME holds its dims [cols, rows]; tensors
// NAME + kMaskSuffix (i8, a bit per weight) and NAME + kValuesSuffix (f32 or f16, the
// non-zeros in row-major order) replace the tensor NAME.
inline constexpr const char* kSparsePrefix = "edgelm.sparse.";
inline constexpr const char* kMaskSuffix = ".mask";
inline constexpr const char* kValuesSuffix = ".values";

// edgelm.*: a sequence-classification head (`edgelm finetune --task classify`,
// runtime/sequence_classifier.h): the labels (string array, in output order), the tokens a
// text is cut to, and how the final hidden states are pooled ("mean": over every token).
// Tensors kClassifierWeight ([dim, labels], any matrix type) and kClassifierBias (f32,
// [labels]) map the pooled state to the labels' logits.
inline constexpr const char* kClassifierLabels = "edgelm.classifier.labels";
inline constexpr const char* kClassifierMaxTokens = "edgelm.classifier.max_tokens";
inline constexpr const char* kClassifierPooling = "edgelm.classifier.pooling";
inline constexpr const char* kClassifierWeight = "cls.weight";
inline constexpr const char* kClassifierBias = "cls.bias";

inline std::string block_tensor(int layer, const char* name) {
    return "blk." + std::to_string(layer) + "." + name;
}

}  // namespace edgelm::keys
