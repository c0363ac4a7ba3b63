// edgelm train: token shards -> a trained model (src/train, libtorch). Also launches
// data-parallel runs: with --nproc-per-node N the command re-executes itself N times
// (one process per local rank, like torchrun) and waits for them.
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "core/split.h"
#include "data/token_shards.h"
#include "gguf/gguf_reader.h"
#include "train/trainer.h"

namespace edgelm::cli {

namespace {

void parse_lora_spec(const std::string& spec, train::TrainOptions& t);

struct TrainCliOptions {
    train::TrainOptions t;
    std::string qat, lora;
    std::vector<std::string> data;
    std::string mixture, preset, config_file, export_type = "f32";
    int dim = 256, layers = 6, heads = 8, kv_heads = 4, ffn = 704, ctx = 256, vocab = 0;
    bool untied = false, dry_run = false, json = false;
    int nproc_per_node = 1, nnodes = 1, node_rank = 0;
    // finetune --task classify
    std::string task = "lm", labels;
    train::ClassifyTask classify;
};

// --export-type, --lora and --qat into the TrainOptions.
void apply_type_options(CLI::App* sub, TrainCliOptions& o) {
    train::TrainOptions& t = o.t;
    const auto type = runnable_dtype_from_name(o.export_type);
    if (!type)
        throw ArgumentError(sub->get_name() + ": unknown --export-type '" + o.export_type +
                            "' (f32, f16, bf16, q8_0, q4_0)");
    t.export_type = *type;
    if (!o.lora.empty()) parse_lora_spec(o.lora, t);
    if (!o.qat.empty()) {
        const auto q = runnable_dtype_from_name(o.qat);
        if (!q || (*q != DType::Q8_0 && *q != DType::Q4_0 && *q != DType::Q4_K))
            throw ArgumentError(sub->get_name() + ": --qat '" + o.qat +
                                "': choose q8_0, q4_0 or q4_k");
        t.qat = *q;
        if (sub->count("--export-type") == 0) t.export_type = *q;  // what was trained
    }
}

// `finetune --task classify`: a classification head (and the model or LoRA adapters).
void run_classify(CLI::App* sub, TrainCliOptions& o) {
    train::TrainOptions& t = o.t;
    for (const char* flag : {"--teacher", "--mixture", "--keep-pruned", "--hidden-loss"})
        if (sub->count(flag) > 0)
            throw ArgumentError(std::string("finetune --task classify does not take ") + flag);
    if (o.data.empty())
        throw ArgumentError(
            "finetune --task classify: --data FILE.jsonl is required (lines "
            "{\"text\": ..., \"label\": ...}, e.g. from `edgelm data emails`)");
    apply_type_options(sub, o);
    o.classify.data = o.data;
    o.classify.labels.clear();
    for (const std::string& l : split_fields(o.labels, ','))
        if (!l.empty()) o.classify.labels.push_back(l);
    if (sub->count("--steps") > 0) o.classify.max_steps = t.max_steps;
    const train::ClassifyResult r = train::run_classifier_training(t, o.classify);
    std::printf("trained %lld steps on %lld texts", static_cast<long long>(r.steps),
                static_cast<long long>(r.train_examples));
    if (r.val_examples > 0)
        std::printf(": val loss %.4f, val accuracy %.4f (%lld texts)", r.val_loss, r.val_accuracy,
                    static_cast<long long>(r.val_examples));
    std::printf("\n");
    if (!r.exported.empty())
        std::printf("model: %s (%s)\n", r.exported.c_str(),
                    human_bytes(std::filesystem::file_size(r.exported)).c_str());
}

// Values from --config FILE (a JSON object keyed by long option names without dashes)
// fill every option not given on the command line.
void apply_config_file(CLI::App* sub, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw IoError(path + ": cannot read the --config file");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(path + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) throw FormatError(path + ": the --config file must hold a JSON object");
    for (const auto& [key, value] : j.items()) {
        CLI::Option* opt = sub->get_option_no_throw("--" + key);
        if (opt == nullptr || key == "config")
            throw FormatError(path + ": unknown setting '" + key +
                              "' (use train's option names, e.g. \"dim\", \"lr\")");
        if (opt->count() > 0) continue;  // the command line wins
        std::vector<std::string> values;
        if (value.is_array()) {
            for (const auto& v : value)
                values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
        } else if (value.is_boolean()) {
            if (!value.get<bool>()) continue;
            values.push_back("true");
        } else {
            values.push_back(value.is_string() ? value.get<std::string>() : value.dump());
        }
        for (const auto& v : values) opt->add_result(v);
        opt->run_callback();
    }
}

void print_plan(const TrainCliOptions& o, const train::TrainPlan& p) {
    const ModelConfig& c = o.t.shape;
    if (o.json) {
        nlohmann::json j = {{"params", p.params},
                            {"bytes",
                             {{"f32", p.bytes_f32},
                              {"f16", p.bytes_f16},
                              {"q8_0", p.bytes_q8_0},
                              {"q4_0", p.bytes_q4_0}}},
                            {"kv_cache_bytes", p.kv_cache_bytes},
                            {"train_activation_bytes", p.train_activation_bytes},
                            {"train_state_bytes", p.train_state_bytes},
                            {"flops_per_token", p.flops_per_token},
                            {"total_flops", p.total_flops},
                            {"shape",
                             {{"dim", c.dim},
                              {"layers", c.n_layers},
                              {"heads", c.n_heads},
                              {"kv_heads", c.n_kv_heads},
                              {"ffn", c.ffn_dim},
                              {"vocab", c.vocab},
                              {"ctx", c.ctx},
                              {"shared_blocks", o.t.shared_blocks}}}};
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    std::printf("shape: dim %d, layers %d%s, heads %d (kv %d), ffn %d, vocab %d, ctx %d\n", c.dim,
                c.n_layers,
                o.t.shared_blocks > 0
                    ? (" (" + std::to_string(o.t.shared_blocks) + " distinct)").c_str()
                    : "",
                c.n_heads, c.n_kv_heads, c.ffn_dim, c.vocab, c.ctx);
    std::printf("parameters: %.2fM\n", static_cast<double>(p.params) / 1e6);
    std::printf("model size: f32 %s, f16 %s, q8_0 %s, q4_0 %s\n", human_bytes(p.bytes_f32).c_str(),
                human_bytes(p.bytes_f16).c_str(), human_bytes(p.bytes_q8_0).c_str(),
                human_bytes(p.bytes_q4_0).c_str());
    std::printf("runtime KV cache at ctx %d: %s\n", c.ctx, human_bytes(p.kv_cache_bytes).c_str());
    std::printf("training memory: weights+grads+AdamW %s, activations %s per micro-batch\n",
                human_bytes(p.train_state_bytes).c_str(),
                human_bytes(p.train_activation_bytes).c_str());
    std::printf("training compute: %.3g FLOPs/token, %.3g FLOPs for %lld steps\n",
                p.flops_per_token, p.total_flops, static_cast<long long>(o.t.max_steps));
}

// Runs nproc copies of this command with EDGELM_LOCAL_RANK set and waits for all of
// them; if one fails the others are stopped.
int launch_local_processes(int nproc) {
    std::vector<pid_t> children;
    for (int i = 0; i < nproc; ++i) {
        const pid_t pid = fork();
        if (pid < 0) throw IoError("cannot start training process " + std::to_string(i));
        if (pid == 0) {
            setenv("EDGELM_LOCAL_RANK", std::to_string(i).c_str(), 1);
            std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
            std::string all((std::istreambuf_iterator<char>(cmdline)), {});
            std::vector<std::string> args;
            size_t start = 0;
            for (size_t k = 0; k < all.size(); ++k)
                if (all[k] == '\0') args.push_back(all.substr(start, k - start)), start = k + 1;
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv("/proc/self/exe", argv.data());
            std::perror("edgelm: exec");
            _exit(127);
        }
        children.push_back(pid);
    }
    int failures = 0;
    for (size_t done = 0; done < children.size(); ++done) {
        int status = 0;
        const pid_t pid = wait(&status);
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && failures++ == 0)
            for (pid_t other : children)
                if (other != pid) kill(other, SIGTERM);
    }
    if (failures > 0)
        throw Error(std::to_string(failures) + " of " + std::to_string(nproc) +
                    " training processes failed (see their errors above)");
    return 0;
}

void run_train(CLI::App* sub, TrainCliOptions& o) {
    if (!o.config_file.empty()) apply_config_file(sub, o.config_file);
    train::TrainOptions& t = o.t;
    if (o.task == "classify") {
        run_classify(sub, o);
        return;
    }
    if (o.task != "lm")
        throw ArgumentError("finetune: --task '" + o.task + "': choose lm or classify");

    int vocab = o.vocab;
    if (!o.data.empty()) vocab = data::read_shard_set_info(o.data[0]).vocab_size;
    if (vocab <= 0) vocab = 4096;
    if (!t.init_from.empty()) {
        for (const char* shape_flag : {"--preset", "--dim", "--layers", "--heads", "--kv-heads",
                                       "--ffn", "--ctx", "--untied", "--share-layers"})
            if (sub->count(shape_flag) > 0)
                throw ArgumentError(std::string("train: --init-from takes the shape from ") +
                                    t.init_from + "; drop " + shape_flag);
        t.shape = ModelConfig::from_gguf(GgufFile(t.init_from));
        t.shared_blocks = t.shape.n_blocks;
    } else if (!o.preset.empty()) {
        const train::DevicePreset p = train::device_preset(o.preset, vocab, o.ctx);
        t.shape = p.shape;
        if (sub->count("--export-type") == 0) o.export_type = dtype_name(p.intended_type);
        if (!o.json) std::printf("preset %s: %s\n", p.name.c_str(), p.description.c_str());
    } else {
        t.shape = ModelConfig::llama(o.dim, o.layers, o.heads, o.kv_heads, o.ffn, vocab, o.ctx,
                                     !o.untied);
    }
    apply_type_options(sub, o);

    if (sub->get_name() == "finetune" && t.lora_rank == 0)
        throw ArgumentError("finetune: --lora r=,alpha=,targets= is required (or --task classify)");
    if (o.dry_run) {
        print_plan(o, train::plan_training(t));
        return;
    }
    if (o.data.empty())
        throw ArgumentError("train: --data DIR is required (made by `edgelm data prepare`)");
    if (t.out_dir.empty()) throw ArgumentError("train: -o RUN_DIR is required");
    t.data = train::DataMixture::parse(o.data, o.mixture);

    const int world = o.nproc_per_node * o.nnodes;
    if (o.nproc_per_node < 1 || o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes)
        throw ArgumentError(
            "train: need --nproc-per-node >= 1, --nnodes >= 1 and 0 <= --node-rank < --nnodes");
    if (world > 1) {
        const char* local = std::getenv("EDGELM_LOCAL_RANK");
        if (local == nullptr) {
            launch_local_processes(o.nproc_per_node);
            return;
        }
        const int local_rank = std::atoi(local);
        t.world_size = world;
        t.rank = o.node_rank * o.nproc_per_node + local_rank;
        if (t.threads <= 0) t.threads = std::max(1, default_threads() / o.nproc_per_node);
    }
    const train::TrainResult r = train::run_training(t);
    if (t.rank != 0) return;
    std::printf(
        "trained %lld steps: train loss %.4f, val loss %.4f (ppl %.2f, %.4f bits/byte), %.0f "
        "tok/s\n",
        static_cast<long long>(r.steps), r.final_train_loss, r.val_loss, std::exp(r.val_loss),
        r.val_bits_per_byte, r.tokens_per_second);
    std::printf("checkpoint: %s\n", r.checkpoint.c_str());
    if (!r.exported.empty() && t.lora_rank > 0) {
        const auto size = std::filesystem::file_size(r.exported);
        const auto base = std::filesystem::file_size(t.init_from);
        std::printf("adapter: %s (%s, %.2f %% of the base's %s)\n", r.exported.c_str(),
                    human_bytes(size).c_str(),
                    100.0 * static_cast<double>(size) / static_cast<double>(base),
                    human_bytes(base).c_str());
    } else if (!r.exported.empty()) {
        std::printf("model: %s (%s)\n", r.exported.c_str(),
                    human_bytes(std::filesystem::file_size(r.exported)).c_str());
    }
}

// "r=8,alpha=16,targets=q,v[,k,o,gate,up,down]": names after targets= continue its list.
void parse_lora_spec(const std::string& spec, train::TrainOptions& t) {
    const auto bad = [&](const std::string& why) {
        throw ArgumentError("--lora '" + spec + "': " + why +
                            " (expected r=8,alpha=16,targets=q,v[,k,o,gate,up,down])");
    };
    std::string key;
    for (const std::string& field : split_fields(spec, ',')) {
        const size_t eq = field.find('=');
        std::string value = field;
        if (eq != std::string::npos) {
            key = field.substr(0, eq);
            value = field.substr(eq + 1);
        } else if (key != "targets") {
            bad("'" + field + "' is not KEY=VALUE");
        }
        char* end = nullptr;
        if (key == "r") {
            t.lora_rank = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end || t.lora_rank < 1) bad("r must be a positive integer");
        } else if (key == "alpha") {
            t.lora_alpha = std::strtod(value.c_str(), &end);
            if (value.empty() || *end || !(t.lora_alpha > 0)) bad("alpha must be positive");
        } else if (key == "targets") {
            const auto target = parse_lora_target(value);
            if (!target) bad("unknown target '" + value + "'");
            t.lora_targets.push_back(*target);
        } else {
            bad("unknown key '" + key + "'");
        }
    }
    if (t.lora_rank < 1) bad("r is missing");
    if (t.lora_targets.empty()) bad("targets are missing");
}

enum class TrainingCommand { Train, Distill, Finetune };

// `train`; `distill`: the same run with a teacher it must have; `finetune`: LoRA adapters
// on a frozen base it must have.
void add_training_command(CLI::App& app, TrainingCommand kind) {
    auto o = std::make_shared<TrainCliOptions>();
    train::TrainOptions& t = o->t;
    const bool distill = kind == TrainingCommand::Distill;
    CLI::App* sub = nullptr;
    if (distill)
        sub = app.add_subcommand("distill",
                                 "Train a student on token shards with a teacher model's soft "
                                 "targets (knowledge distillation, libtorch)");
    else if (kind == TrainingCommand::Finetune)
        sub = app.add_subcommand("finetune",
                                 "Train LoRA adapters on a frozen base model (--export writes the "
                                 "adapter GGUF), or with --task classify a classification head "
                                 "(libtorch)");
    else
        sub = app.add_subcommand("train", "Train a llama-family model on token shards (libtorch)");
    sub->add_option(
        "--lora", o->lora,
        "LoRA: r=RANK,alpha=A,targets=q,v[,k,o,gate,up,down]; the base (--base/--init-from) is "
        "frozen and --export writes the adapter");
    sub->add_option("--dropout", t.lora_dropout, "Dropout on the LoRA input")
        ->capture_default_str();
    if (kind == TrainingCommand::Finetune) {
        sub->add_option("--base", t.init_from, "The base GGUF model the adapters are for")
            ->required();
        sub->add_option("--task", o->task,
                        "lm: LoRA adapters for next-token prediction; classify: a classification "
                        "head on the mean final hidden state (full fine-tuning, or LoRA with "
                        "--lora), --data being JSONL files with \"text\" and \"label\"")
            ->capture_default_str();
        sub->add_option("--labels", o->labels,
                        "classify: the labels in output order, comma-separated (default: the "
                        "data's, sorted)");
        sub->add_option(
            "--max-tokens", o->classify.max_tokens,
            "classify: tokens read per text (BOS included; default: the context, at most 256)");
        sub->add_option("--epochs", o->classify.epochs, "classify: passes over the training texts")
            ->capture_default_str();
        sub->add_option("--val-fraction", o->classify.val_fraction,
                        "classify: texts held out to report validation accuracy each epoch")
            ->capture_default_str();
    }
    CLI::Option* teacher = sub->add_option(
        "--teacher", t.teacher,
        "GGUF teacher with the data's tokenizer (any shape, a context at least --ctx): "
        "distil its next-token distributions into the model being trained");
    if (distill) teacher->required();
    sub->add_option("--temperature", t.temperature,
                    "Distillation temperature T: both distributions are softened by it")
        ->capture_default_str();
    sub->add_option("--hidden-loss", t.hidden_loss,
                    "With --teacher: weight of matching the final hidden states through a "
                    "learned projection (TinyBERT-style); 0 = off")
        ->capture_default_str();
    sub->add_option("--teacher-cache", t.teacher_cache,
                    "With --teacher: keep the teacher's top-k logits of every batch in this file "
                    "and read them back in later runs over the same batches (the distillation "
                    "term is then the KL over those k tokens)");
    sub->add_option("--teacher-top-k", t.teacher_top_k, "Logits per token kept by --teacher-cache")
        ->capture_default_str();
    sub->add_option(
        "--qat", o->qat,
        "Quantization-aware training: weights rounded as q8_0, q4_0 or q4_k in the forward "
        "pass (straight-through gradients); export with the same --export-type");
    sub->add_option("--alpha", t.alpha,
                    "Weight of the distillation term; 1 - alpha weighs the cross-entropy")
        ->capture_default_str();
    sub->add_option(
        "--data", o->data,
        "Shard directories from `edgelm data prepare` (the first gives the validation split)");
    sub->add_option("--mixture", o->mixture,
                    "Data mixture / curriculum, e.g. 'A:0.7,B:0.3;@1000=A:0.5,B:0.5'");
    sub->add_option("-o,--out", t.out_dir, "Run directory: checkpoint.pt, metrics.jsonl, loss.svg");
    sub->add_option(distill ? "--config,--student-config" : "--config", o->config_file,
                    "JSON object of settings (option names without dashes); flags override it");
    sub->add_option("--preset", o->preset, "Shape for a device class: mcu, iot or mobile");
    if (kind != TrainingCommand::Finetune)
        sub->add_option("--init-from", t.init_from,
                        "Start from this GGUF model's weights and shape (no shape flags): continue "
                        "training it, or recover a pruned model");
    sub->add_flag("--keep-pruned", t.keep_pruned,
                  "Weight matrices' exact zeros (from `edgelm prune --sparsity`) stay zero");
    sub->add_option("--dim", o->dim, "Embedding width")->capture_default_str();
    sub->add_option("--layers", o->layers, "Decoder layers")->capture_default_str();
    sub->add_option("--heads", o->heads, "Attention heads")->capture_default_str();
    sub->add_option("--kv-heads", o->kv_heads, "Key/value heads (grouped-query attention)")
        ->capture_default_str();
    sub->add_option("--ffn", o->ffn, "SwiGLU hidden width")->capture_default_str();
    sub->add_option("--ctx", o->ctx, "Context length (training sequence length)")
        ->capture_default_str();
    sub->add_option("--vocab", o->vocab, "Vocabulary size for --dry-run without --data");
    sub->add_flag("--untied", o->untied, "Separate output matrix instead of the tied embedding");
    sub->add_option("--share-layers", t.shared_blocks,
                    "Distinct blocks shared across the layers (ALBERT-style); 0 = none");
    sub->add_option("--batch-size", t.batch_size, "Sequences per optimizer step (global)")
        ->capture_default_str();
    sub->add_option("--grad-accum", t.grad_accum, "Micro-batches per step")->capture_default_str();
    sub->add_option("--steps", t.max_steps, "Optimizer steps")->capture_default_str();
    sub->add_option("--max-minutes", t.max_minutes,
                    "Wall-clock budget: then evaluate, checkpoint and export");
    sub->add_option("--lr", t.lr, "Peak learning rate")->capture_default_str();
    sub->add_option("--min-lr-ratio", t.min_lr_ratio, "Final learning rate as a fraction of --lr")
        ->capture_default_str();
    sub->add_option("--decay-fraction", t.decay_fraction,
                    "Share of the run spent decaying the learning rate; below 1 the rate "
                    "stays at --lr until then (warm-up-stable-decay)")
        ->capture_default_str();
    sub->add_option("--warmup", t.warmup_steps, "Linear warm-up steps")->capture_default_str();
    sub->add_option("--weight-decay", t.weight_decay,
                    "AdamW decoupled weight decay (not on norms or embeddings)")
        ->capture_default_str();
    sub->add_option("--beta1", t.beta1, "AdamW beta1")->capture_default_str();
    sub->add_option("--beta2", t.beta2, "AdamW beta2")->capture_default_str();
    sub->add_option("--grad-clip", t.grad_clip, "Clip the global gradient norm (0 = off)")
        ->capture_default_str();
    sub->add_option("--layer-lr-decay", t.layer_lr_decay,
                    "Layer-wise learning-rate decay factor (1 = off)")
        ->capture_default_str();
    sub->add_option("--eval-every", t.eval_every, "Steps between evaluations")
        ->capture_default_str();
    sub->add_option("--eval-tokens", t.eval_tokens, "Validation tokens per evaluation")
        ->capture_default_str();
    sub->add_option("--checkpoint-every", t.checkpoint_every, "Steps between checkpoints")
        ->capture_default_str();
    sub->add_option("--log-every", t.log_every, "Steps between progress lines")
        ->capture_default_str();
    sub->add_option("--precision", t.precision,
                    "fp32, bf16 or auto (bf16 autocast only where the CPU has bf16 instructions)")
        ->capture_default_str();
    sub->add_flag("--checkpoint-activations", t.activation_checkpointing,
                  "Recompute block activations in the backward pass (less memory)");
    sub->add_option("--seed", t.seed, "Seed for initialisation and data order")
        ->capture_default_str();
    sub->add_option("-t,--threads", t.threads,
                    "Threads (default: all, divided among local processes)");
    sub->add_option("--export", t.export_path, "Write the final model as GGUF");
    sub->add_option("--export-type", o->export_type,
                    "Type of the exported weights: f32, f16, bf16, q8_0, q6_k, q4_k, q4_0")
        ->capture_default_str();
    sub->add_flag("--dry-run", o->dry_run, "Print parameters, sizes, memory and FLOPs, then exit");
    sub->add_flag("--json", o->json, "With --dry-run: print JSON");
    sub->add_option("--nproc-per-node", o->nproc_per_node,
                    "Data-parallel processes on this machine")
        ->capture_default_str();
    sub->add_option("--nnodes", o->nnodes, "Machines taking part")->capture_default_str();
    sub->add_option("--node-rank", o->node_rank, "This machine's index")->capture_default_str();
    sub->add_option("--master-addr", t.master_addr, "Rendezvous address (rank 0's machine)")
        ->capture_default_str();
    sub->add_option("--master-port", t.master_port, "Rendezvous port")->capture_default_str();
    sub->add_flag("-q,--quiet", t.quiet, "No progress output");
    sub->callback([o, sub] { run_train(sub, *o); });
}

}  // namespace

void add_train(CLI::App& app) {
    add_training_command(app, TrainingCommand::Train);
}

void add_distill(CLI::App& app) {
    add_training_command(app, TrainingCommand::Distill);
}

void add_finetune(CLI::App& app) {
    add_training_command(app, TrainingCommand::Finetune);
}

void add_export(CLI::App& app) {
    auto ckpt = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto type = std::make_shared<std::string>("f32");
    CLI::App* sub = app.add_subcommand("export", "Write a training checkpoint as a GGUF model");
    sub->add_option("checkpoint", *ckpt, "checkpoint.pt from a train run directory")->required();
    sub->add_option("-o,--output", *out, "Output GGUF file")->required();
    sub->add_option("--type", *type, "f32, f16, bf16, q8_0 or q4_0")->capture_default_str();
    sub->callback([ckpt, out, type] {
        const auto t = runnable_dtype_from_name(*type);
        if (!t)
            throw ArgumentError("export: unknown --type '" + *type +
                                "' (f32, f16, bf16, q8_0, q4_0)");
        train::export_checkpoint(*ckpt, *out, *t);
        std::printf("wrote %s\n", out->c_str());
    });
}

}  // namespace edgelm::cli
