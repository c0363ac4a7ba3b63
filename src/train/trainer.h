// The trainer's interface to the rest of edgelm. Torch-free on purpose: the CLI and tests
// include this header without libtorch's (slow to compile) headers; everything that
// touches torch lives in src/train/*.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "runtime/lora_adapter.h"
#include "runtime/model_config.h"

namespace edgelm::train {

// Where the training tokens come from: one `edgelm data prepare` directory, or several
// mixed by weight. A curriculum changes the weights at given steps.
struct DataMixture {
    std::vector<std::string> dirs;  // the first one also provides the validation split
    // (from_step, weight per dir), sorted by from_step; empty = equal weights throughout.
    std::vector<std::pair<int64_t, std::vector<double>>> schedule;

    // The weights in force at `step`.
    std::vector<double> weights_at(int64_t step) const;
    // "A:0.7,B:0.3" is one phase; phases are joined by ";" and each after the first
    // starts with "@STEP=" e.g. "A:1,B:0;@1000=A:0.5,B:0.5". Throws ArgumentError.
    static DataMixture parse(const std::vector<std::string>& dirs, const std::string& schedule);
};

struct TrainOptions {
    DataMixture data;
    std::string out_dir;

    // Shape: ModelConfig's fields; vocab comes from the data's tokenizer.
    ModelConfig shape;
    // A GGUF model whose weights start the run (its shape must be `shape`, its vocabulary
    // the data's tokenizer); "" = random initialisation.
    std::string init_from;
    int shared_blocks = 0;  // --share-layers: distinct blocks (0 = none shared)
    // Weight matrices' exact zeros (an unstructured-pruned --init-from) stay zero.
    bool keep_pruned = false;

    // Knowledge distillation: a GGUF teacher with the data's tokenizer (any depth and
    // width) runs without gradients on every batch, and the loss is
    //   alpha * KL(softmax(teacher / T) || softmax(student / T)) * T^2 + (1 - alpha) * CE.
    std::string teacher;
    double temperature = 2.0;
    double alpha = 0.5;
    // TinyBERT-style hidden-state matching: plus hidden_loss * MSE(P h_student, h_teacher) on
    // the final (normed) hidden states, P a learned projection between the two widths (not
    // part of the exported model, nor of checkpoints). 0: off.
    double hidden_loss = 0;
    // Top-k teacher logits cached in this file (train/teacher_cache.h): "" = none; with a
    // cache the distillation term is the KL over the teacher's top k tokens.
    std::string teacher_cache;
    int64_t teacher_top_k = 32;

    // LoRA fine-tuning of the --init-from base (rank 0: off): the base is frozen, only the
    // adapters train, and --export writes the adapter (llama.cpp's layout), not a model.
    int64_t lora_rank = 0;
    double lora_alpha = 16;
    std::vector<LoraTarget> lora_targets;
    double lora_dropout = 0;

    // Quantization-aware training at this type (q8_0, q4_0; F32 = off): export at the same
    // --export-type to get exactly the weights the forward pass used.
    DType qat = DType::F32;

    int batch_size = 16;  // sequences per optimizer step (global, over all processes)
    int grad_accum = 1;   // micro-batches per step: each is batch_size / grad_accum rows
    int64_t max_steps = 1000;
    double max_minutes = 0;  // 0 = no wall-clock budget

    double lr = 1e-3;
    double min_lr_ratio = 0.1;    // cosine decays to lr * min_lr_ratio
    double decay_fraction = 1.0;  // share of the run the decay takes (1 = cosine throughout)
    int64_t warmup_steps = 100;
    double weight_decay = 0.1;
    double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
    double grad_clip = 1.0;       // max global gradient norm; 0 = off
    double layer_lr_decay = 1.0;  // lr of layer l = lr · decay^(layers - l); 1 = off

    int64_t eval_every = 200;
    int64_t eval_tokens = 1 << 16;  // validation tokens per evaluation during training; the
                                    // final evaluation reads the whole split
    int64_t checkpoint_every = 500;
    int64_t log_every = 10;

    std::string precision = "auto";  // fp32 | bf16 | auto (bf16 only where the CPU has it)
    bool activation_checkpointing = false;
    uint64_t seed = 1;
    int threads = 0;  // 0 = all hardware threads (divided among local processes)

    std::string export_path;  // GGUF written at the end ("" = none)
    DType export_type = DType::F32;
    bool quiet = false;  // no progress line (tests)

    // Data-parallel: this process's rank among world_size, rendezvous at master_addr:port.
    int world_size = 1, rank = 0;
    std::string master_addr = "127.0.0.1";
    int master_port = 29500;
};

struct TrainResult {
    int64_t steps = 0;
    double final_train_loss = 0, val_loss = 0, val_bits_per_byte = 0;
    double tokens_per_second = 0;
    std::string checkpoint, exported;
};

// Trains (resuming from out_dir/checkpoint.pt when it exists and matches), evaluates,
// checkpoints and exports. Writes out_dir/metrics.jsonl and out_dir/loss.svg.
TrainResult run_training(const TrainOptions& options);

// Sequence classification (`edgelm finetune --task classify`): a head on the mean of the
// base model's final normed hidden states (runtime/sequence_classifier.h), trained with
// cross-entropy together with the whole model, or with LoRA adapters on a frozen base
// (TrainOptions::lora_rank; they are merged into the exported weights). The exported GGUF
// holds the model and the head. From TrainOptions it uses init_from (the base, required),
// lr (linear warm-up over warmup_steps, then linear decay to 0), batch_size, weight_decay,
// grad_clip, max_minutes, precision, seed, threads, lora_*, qat, export_path/type, quiet,
// log_every and out_dir (metrics.jsonl).
struct ClassifyTask {
    std::vector<std::string> data;    // JSONL files: objects with "text" and "label"
    std::vector<std::string> labels;  // output order; empty = the data's labels, sorted
    int max_tokens = 0;               // tokens read per text (BOS included); 0: min(ctx, 256)
    int epochs = 3;
    int64_t max_steps = 0;      // 0: epochs decide
    double val_fraction = 0.1;  // held out (seeded) to report accuracy per epoch
};

struct ClassifyResult {
    int64_t steps = 0, train_examples = 0, val_examples = 0;
    double val_loss = 0, val_accuracy = 0;
    std::vector<std::string> labels;
    std::string exported;
};

ClassifyResult run_classifier_training(const TrainOptions& options, const ClassifyTask& task);

// Writes a checkpoint's model as a GGUF the runtime runs (vocabulary from the tokenizer
// stored in the checkpoint).
void export_checkpoint(const std::string& checkpoint, const std::string& out, DType type);

// What a shape costs, for `edgelm train --dry-run`.
struct TrainPlan {
    uint64_t params = 0;
    uint64_t bytes_f32 = 0, bytes_f16 = 0, bytes_q8_0 = 0, bytes_q4_0 = 0;
    uint64_t kv_cache_bytes = 0;          // runtime f32 cache at the full context
    uint64_t train_activation_bytes = 0;  // per micro-batch, fp32, without checkpointing
    uint64_t train_state_bytes = 0;       // weights + grads + two AdamW moments
    double flops_per_token = 0;           // forward + backward
    double total_flops = 0;               // for max_steps · batch · ctx tokens
};
TrainPlan plan_training(const TrainOptions& options);

// Device presets: the shape for a profile and vocabulary (mcu | iot | mobile).
struct DevicePreset {
    std::string name, description;
    ModelConfig shape;
    DType intended_type;
};
DevicePreset device_preset(const std::string& name, int vocab, int ctx);

}  // namespace edgelm::train
