// run_training: the loop that turns token shards into a model. One step = batch_size
// sequences of ctx tokens (over all processes and micro-batches), AdamW on the mean
// next-token cross-entropy, with the schedule, clipping, evaluation, checkpoints and
// the wall-clock budget described in trainer.h.
#include <ATen/autocast_mode.h>
#include <malloc.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/token_shards.h"
#include "gguf/gguf_reader.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/distillation_loss.h"
#include "train/fake_quant.h"
#include "train/gguf_export.h"
#include "train/gguf_import.h"
#include "train/llama_module.h"
#include "train/loss_plot.h"
#include "train/teacher_cache.h"
#include "train/trainer.h"
#include "train/training_support.h"
#include "train/window_sampler.h"

namespace edgelm::train {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void on_stop_signal(int) {
    g_stop_requested = true;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path + ": cannot read the tokenizer model named in the data's meta.json");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text_atomically(const std::string& path, const std::string& text) {
    AtomicFileWriter w(path);
    w.write(text.data(), text.size());
    w.commit();
}

// AdamW parameter groups: decay on weight matrices only (not norms, not embeddings), and
// with layer-wise learning-rate decay a group per block. `scales` holds each group's
// multiplier of the scheduled learning rate.
struct ParamGroups {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    std::vector<double> scales;
};

ParamGroups make_param_groups(LlamaModelImpl& m, const TrainOptions& o) {
    ParamGroups pg;
    const int n_blocks = static_cast<int>(m.blocks.size());
    auto add = [&](std::vector<torch::Tensor> params, double decay, double scale) {
        if (params.empty()) return;
        auto opts = std::make_unique<torch::optim::AdamWOptions>(o.lr);
        opts->betas({o.beta1, o.beta2}).eps(o.adam_eps).weight_decay(decay);
        pg.groups.emplace_back(std::move(params), std::move(opts));
        pg.scales.push_back(scale);
    };
    const auto depth_scale = [&](int depth) {  // depth 0 = embeddings, n_blocks + 1 = head
        return std::pow(o.layer_lr_decay, n_blocks + 1 - depth);
    };
    add({m.tok_embd->weight}, 0.0, depth_scale(0));
    for (int b = 0; b < n_blocks; ++b) {
        std::vector<torch::Tensor> matrices, vectors;
        for (auto& p : m.blocks[static_cast<size_t>(b)]->parameters())
            (p.dim() >= 2 ? matrices : vectors).push_back(p);
        add(matrices, o.weight_decay, depth_scale(b + 1));
        add(vectors, 0.0, depth_scale(b + 1));
    }
    add({m.output_norm->weight}, 0.0, 1.0);
    if (m.output) add({m.output->weight}, o.weight_decay, 1.0);
    return pg;
}

// Metrics are JSON lines; a resumed run first drops the lines past its checkpoint so that
// the file (and the plot) read as one uninterrupted run.
class MetricsLog {
  public:
    MetricsLog(const std::string& path, int64_t resume_step, bool enabled) : path_(path) {
        if (!enabled) return;
        std::string kept;
        if (resume_step > 0) {
            std::ifstream in(path);
            std::string line;
            while (std::getline(in, line)) {
                auto j = nlohmann::json::parse(line, nullptr, false);
                if (j.is_discarded() || !j.contains("step")) continue;
                if (j["step"].get<int64_t>() > resume_step) continue;
                kept += line + "\n";
                record(j);
            }
        }
        write_text_atomically(path, kept);
        out_ = std::fopen(path.c_str(), "a");
        if (out_ == nullptr) throw IoError(path + ": cannot open the metrics log for writing");
    }
    ~MetricsLog() {
        if (out_ != nullptr) std::fclose(out_);
    }
    void write(const nlohmann::json& j) {
        record(j);
        if (out_ == nullptr) return;
        const std::string line = j.dump() + "\n";
        std::fwrite(line.data(), 1, line.size(), out_);
        std::fflush(out_);
    }
    const LossCurves& curves() const { return curves_; }

  private:
    void record(const nlohmann::json& j) {
        const double step = j["step"].get<double>();
        if (j.contains("loss")) curves_.train.emplace_back(step, j["loss"].get<double>());
        if (j.contains("val_loss")) curves_.val.emplace_back(step, j["val_loss"].get<double>());
    }
    std::string path_;
    std::FILE* out_ = nullptr;
    LossCurves curves_;
};

struct EvalResult {
    double loss = 0, bits_per_byte = 0;
    int64_t tokens = 0;
};

// Mean next-token loss over the first eval_tokens of the validation split, in windows of
// ctx + 1 tokens at stride ctx (every token after the first is a target once).
EvalResult evaluate(LlamaModelImpl& model, const data::TokenSplit& val, uint64_t max_tokens,
                    int rows, DataParallel& dp) {
    const int T = model.config.ctx;
    const uint64_t usable = std::min<uint64_t>(val.size(), max_tokens + 1);
    const int64_t n_windows =
        usable > static_cast<uint64_t>(T) ? static_cast<int64_t>((usable - 1) / T) : 0;
    torch::NoGradGuard no_grad;
    model.eval();
    double nll = 0, count = 0;
    std::vector<int32_t> buf(static_cast<size_t>(T + 1));
    for (int64_t w0 = static_cast<int64_t>(dp.rank()) * rows; w0 < n_windows;
         w0 += static_cast<int64_t>(rows) * dp.world_size()) {
        const int64_t n = std::min<int64_t>(rows, n_windows - w0);
        torch::Tensor batch = torch::empty({n, T + 1}, torch::kInt64);
        for (int64_t r = 0; r < n; ++r) {
            val.read(static_cast<uint64_t>((w0 + r) * T), buf.size(), buf.data());
            for (int i = 0; i <= T; ++i) batch[r][i] = buf[static_cast<size_t>(i)];
        }
        const torch::Tensor logits = model.forward(batch.narrow(1, 0, T)).to(torch::kFloat);
        const torch::Tensor loss = torch::nn::functional::cross_entropy(
            logits.reshape({-1, logits.size(2)}), batch.narrow(1, 1, T).reshape(-1),
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
        nll += loss.item<double>();
        count += static_cast<double>(n * T);
    }
    model.train();
    const std::vector<double> totals = dp.sum({nll, count});
    EvalResult r;
    r.tokens = static_cast<int64_t>(totals[1]);
    if (totals[1] == 0) return r;
    r.loss = totals[0] / totals[1];
    // Bytes of the scored tokens, by their share of the split.
    const double bytes =
        static_cast<double>(val.bytes()) * totals[1] / static_cast<double>(val.size());
    r.bits_per_byte = totals[0] / std::log(2.0) / bytes;
    return r;
}

}  // namespace

bool cpu_has_bf16() {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

std::string format_duration(double seconds) {
    const long s = std::lround(std::max(0.0, seconds));
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else
        std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

TrainResult run_training(const TrainOptions& o) {
    // Keep freed tensor memory in the heap: by default glibc returns every large block to
    // the kernel and page-faults it back in on the next step (measured: 10-20 % of a step).
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    using Clock = std::chrono::steady_clock;
    const auto t_start = Clock::now();
    DataParallel dp(o.world_size, o.rank, o.master_addr, o.master_port);
    const bool main_process = dp.rank() == 0;

    // Data: every source must come from the same tokenizer.
    const data::ShardSetInfo info = data::read_shard_set_info(o.data.dirs.at(0));
    std::vector<data::TokenSplit> sources;
    for (const std::string& dir : o.data.dirs) {
        const data::ShardSetInfo other = data::read_shard_set_info(dir);
        if (other.tokenizer_sha256 != info.tokenizer_sha256)
            throw ArgumentError(dir + " was tokenized with a different tokenizer than " +
                                o.data.dirs[0] + "; prepare all --data dirs with one tok.model");
        sources.push_back(data::TokenSplit::open(dir, "train"));
    }
    const data::TokenSplit val = data::TokenSplit::open(o.data.dirs[0], "val");
    const std::string tokenizer_model = read_file(info.tokenizer);

    ModelConfig config = o.shape;
    if (!o.init_from.empty() && config.vocab != info.vocab_size)
        throw ArgumentError(o.init_from + " has a vocabulary of " + std::to_string(config.vocab) +
                            " tokens, the --data shards one of " + std::to_string(info.vocab_size) +
                            "; prepare the data with the model's tokenizer");
    config.vocab = info.vocab_size;
    config.n_blocks = o.shared_blocks;
    config.validate();
    const int T = config.ctx;

    const auto need = [](bool ok, const std::string& what) {
        if (!ok) throw ArgumentError(what);
    };
    need(o.batch_size >= 1 && o.grad_accum >= 1, "--batch-size and --grad-accum must be >= 1");
    need(o.max_steps >= 1, "--steps must be >= 1");
    need(o.lr > 0 && std::isfinite(o.lr), "--lr must be positive");
    need(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1, "--min-lr-ratio must be in [0, 1]");
    need(o.decay_fraction > 0 && o.decay_fraction <= 1, "--decay-fraction must be in (0, 1]");
    need(o.warmup_steps >= 0 && o.weight_decay >= 0 && o.grad_clip >= 0 && o.max_minutes >= 0,
         "--warmup, --weight-decay, --grad-clip and --max-minutes must be >= 0");
    need(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.adam_eps > 0,
         "--beta1 and --beta2 must be in [0, 1), the AdamW epsilon positive");
    need(o.layer_lr_decay > 0 && o.layer_lr_decay <= 1, "--layer-lr-decay must be in (0, 1]");
    need(o.log_every >= 1 && o.eval_every >= 0 && o.checkpoint_every >= 0 && o.eval_tokens >= 1,
         "--log-every and --eval-tokens must be >= 1, --eval-every and --checkpoint-every >= 0");

    // Rows: batch_size over processes, then micro-batches.
    if (o.batch_size % (dp.world_size() * o.grad_accum) != 0)
        throw ArgumentError("--batch-size " + std::to_string(o.batch_size) +
                            " must be a multiple of processes × --grad-accum (" +
                            std::to_string(dp.world_size() * o.grad_accum) + ")");
    const int rows_per_process = o.batch_size / dp.world_size();
    const int micro_rows = rows_per_process / o.grad_accum;

    int threads = o.threads;
    if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    torch::set_num_threads(threads);

    bool use_bf16 = o.precision == "bf16" || (o.precision == "auto" && cpu_has_bf16());
    if (o.precision != "bf16" && o.precision != "fp32" && o.precision != "auto")
        throw ArgumentError("--precision '" + o.precision + "': choose fp32, bf16 or auto");

    fs::create_directories(o.out_dir);
    const std::string ckpt_path = (fs::path(o.out_dir) / "checkpoint.pt").string();

    torch::manual_seed(static_cast<uint64_t>(o.seed));
    LlamaModel model(config, config.blocks());
    model->init_weights(o.seed);
    if (!o.init_from.empty() && !fs::exists(ckpt_path))
        load_gguf_weights(o.init_from, *model, tokenizer_model);  // a resume loads its own
    need(o.hidden_loss == 0 || !o.teacher.empty(), "--hidden-loss needs a --teacher");
    if (o.lora_rank > 0) {
        need(!o.init_from.empty(), "LoRA fine-tuning needs a base model (--base / --init-from)");
        need(!o.lora_targets.empty(), "--lora needs targets (q, k, v, o, gate, up, down)");
        need(o.lora_alpha > 0 && o.lora_dropout >= 0 && o.lora_dropout < 1,
             "--lora alpha must be positive and dropout in [0, 1)");
        // With --qat the frozen base is seen rounded (QLoRA-style): the adapter learns to
        // sit on the base quantized at that type, the adapter itself stays f32.
        need(!o.keep_pruned, "--lora cannot be combined with --keep-pruned");
        model->add_lora(o.lora_rank, o.lora_alpha, o.lora_targets, o.lora_dropout, o.seed);
    }
    if (o.qat != DType::F32) {
        need(qat_supports(o.qat), std::string("--qat ") + dtype_name(o.qat) +
                                      ": quantization-aware training supports q8_0, q4_0 and q4_k");
        model->set_qat(o.qat);
    }
    // The teacher: frozen, in eval mode, its weights from the GGUF (decoded if quantized).
    std::optional<LlamaModel> teacher;
    torch::nn::Linear hidden_proj{nullptr};  // --hidden-loss: student width -> teacher width
    std::optional<TeacherLogitCache> teacher_cache;
    if (!o.teacher.empty()) {
        need(o.temperature > 0 && std::isfinite(o.temperature), "--temperature must be positive");
        need(o.alpha >= 0 && o.alpha <= 1, "--alpha must be in [0, 1]");
        ModelConfig tc = ModelConfig::from_gguf(GgufFile(o.teacher));
        if (tc.vocab != config.vocab)
            throw ArgumentError("teacher " + o.teacher + " has a vocabulary of " +
                                std::to_string(tc.vocab) + " tokens, the student's data " +
                                std::to_string(config.vocab) +
                                "; distillation needs one tokenizer for both");
        if (tc.ctx < T)
            throw ArgumentError("teacher " + o.teacher + " has a context of " +
                                std::to_string(tc.ctx) + " tokens, shorter than the student's " +
                                std::to_string(T) + "; train the student with --ctx " +
                                std::to_string(tc.ctx) + " or less");
        teacher.emplace(tc, tc.blocks());
        need(o.hidden_loss >= 0, "--hidden-loss must be >= 0");
        if (o.hidden_loss > 0) {
            hidden_proj =
                torch::nn::Linear(torch::nn::LinearOptions(config.dim, tc.dim).bias(false));
            if (config.dim == tc.dim) {
                torch::NoGradGuard no_grad;
                hidden_proj->weight.copy_(torch::eye(config.dim));
            }
        }
        load_gguf_weights(o.teacher, **teacher, tokenizer_model);  // checks the tokens
        if (!o.teacher_cache.empty()) {
            need(o.hidden_loss == 0,
                 "--teacher-cache keeps logits, not the hidden states "
                 "--hidden-loss needs; use one of them");
            const std::string path = dp.world_size() > 1
                                         ? o.teacher_cache + ".rank" + std::to_string(dp.rank())
                                         : o.teacher_cache;
            teacher_cache.emplace(path, gguf_fingerprint(o.teacher), o.teacher_top_k, micro_rows, T,
                                  config.vocab, o.temperature);
        }
        (*teacher)->eval();
        for (torch::Tensor& p : (*teacher)->parameters()) p.set_requires_grad(false);
    }
    ParamGroups pg = make_param_groups(*model, o);
    if (hidden_proj) {
        auto opts = std::make_unique<torch::optim::AdamWOptions>(o.lr);
        opts->betas({o.beta1, o.beta2}).eps(o.adam_eps).weight_decay(0.0);
        pg.groups.emplace_back(std::vector<torch::Tensor>{hidden_proj->weight}, std::move(opts));
        pg.scales.push_back(1.0);
    }
    torch::optim::AdamW optimizer(pg.groups);

    std::vector<WindowSampler> samplers;
    for (size_t i = 0; i < sources.size(); ++i)
        samplers.emplace_back(sources[i].size(), T, mix_hash(o.seed, i, 17));

    CheckpointMeta meta;
    meta.config = config;
    meta.tokenizer_model = tokenizer_model;
    meta.seed = o.seed;
    if (fs::exists(ckpt_path)) {
        const CheckpointMeta saved = read_checkpoint_meta(ckpt_path);
        const auto& s = saved.config;
        if (s.dim != config.dim || s.n_layers != config.n_layers || s.n_heads != config.n_heads ||
            s.n_kv_heads != config.n_kv_heads || s.ffn_dim != config.ffn_dim ||
            s.vocab != config.vocab || s.ctx != config.ctx || s.n_blocks != config.n_blocks ||
            s.tied_output != config.tied_output)
            throw ArgumentError(ckpt_path +
                                " holds a model of another shape; use a new -o directory or "
                                "the same shape flags to resume");
        if (saved.samplers.size() != samplers.size() || saved.seed != o.seed)
            throw ArgumentError(ckpt_path + " was written with other --data dirs or --seed");
        load_checkpoint(ckpt_path, *model, &optimizer);
        for (size_t i = 0; i < samplers.size(); ++i) samplers[i].restore(saved.samplers[i]);
        meta.step = saved.step;
        meta.tokens_seen = saved.tokens_seen;
        meta.elapsed_seconds = saved.elapsed_seconds;
        if (main_process && !o.quiet)
            std::fprintf(stderr, "resuming from %s at step %lld\n", ckpt_path.c_str(),
                         static_cast<long long>(saved.step));
    }
    std::vector<torch::Tensor> params = model->parameters();
    if (hidden_proj) params.push_back(hidden_proj->weight);
    dp.broadcast(params);  // one initial state everywhere, whatever the seed did
    // --keep-pruned: the weight matrices' exact zeros (unstructured pruning) stay zero. The
    // masks come from the weights as loaded, so a resumed run finds the same ones.
    std::vector<std::pair<torch::Tensor, torch::Tensor>> pruned_masks;
    if (o.keep_pruned) {
        torch::NoGradGuard no_grad;
        int64_t zeros = 0, total = 0;
        for (const torch::Tensor& p : params) {
            if (p.dim() != 2) continue;
            torch::Tensor mask = (p != 0).to(p.scalar_type());
            const int64_t z = p.numel() - mask.sum().item<int64_t>();
            if (z == 0) continue;
            zeros += z;
            total += p.numel();
            pruned_masks.emplace_back(p, std::move(mask));
        }
        if (main_process && !o.quiet)
            std::fprintf(stderr, "keeping %lld pruned weights at zero (%zu matrices)\n",
                         static_cast<long long>(zeros), pruned_masks.size());
    }

    MetricsLog metrics((fs::path(o.out_dir) / "metrics.jsonl").string(), meta.step, main_process);

    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    const bool tty = isatty(STDERR_FILENO) != 0;

    const auto save = [&]() {
        meta.samplers.clear();
        for (const auto& s : samplers) meta.samplers.push_back(s.state());
        if (main_process) save_checkpoint(ckpt_path, *model, &optimizer, meta);
    };
    // Evaluations during training read the first --eval-tokens of the split; the final one
    // reads all of it (the figure a run reports).
    const auto run_eval = [&](int64_t step, bool final_eval) {
        const uint64_t limit = final_eval ? val.size() : static_cast<uint64_t>(o.eval_tokens);
        const EvalResult e = evaluate(*model, val, limit, micro_rows, dp);
        if (main_process && e.tokens > 0) {
            metrics.write({{"step", step},
                           {"val_loss", e.loss},
                           {"val_ppl", std::exp(e.loss)},
                           {"val_bits_per_byte", e.bits_per_byte},
                           {"val_tokens", e.tokens}});
            if (!o.quiet)
                std::fprintf(stderr, "%sstep %lld | val loss %.4f | ppl %.2f | %.4f bits/byte\n",
                             tty ? "\r\033[K" : "", static_cast<long long>(step), e.loss,
                             std::exp(e.loss), e.bits_per_byte);
        }
        return e;
    };

    TrainResult result;
    const double budget_s = o.max_minutes > 0 ? o.max_minutes * 60.0 : 0.0;
    const int64_t tokens_per_step = static_cast<int64_t>(o.batch_size) * T;
    std::vector<int32_t> buf(static_cast<size_t>(T + 1));
    double loss_sum_since_log = 0;
    int64_t steps_since_log = 0;
    auto t_log = Clock::now();
    const double elapsed_before = meta.elapsed_seconds;
    const auto elapsed = [&]() {
        return elapsed_before + std::chrono::duration<double>(Clock::now() - t_start).count();
    };
    const int64_t first_step = meta.step;
    int64_t step = meta.step;
    bool stopped_early = false;

    while (step < o.max_steps) {
        if (g_stop_requested || (budget_s > 0 && elapsed() >= budget_s)) {
            stopped_early = true;
            break;
        }
        // The decay follows whichever budget runs out first, steps or wall-clock time, so
        // a --max-minutes run ends at the low learning rate too.
        double progress = decay_progress(step, o.max_steps, o.warmup_steps);
        if (budget_s > 0) progress = std::max(progress, elapsed() / budget_s);
        const double lr =
            lr_at(step, o.warmup_steps, progress, o.lr, o.min_lr_ratio, o.decay_fraction);
        for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
            static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[g].options())
                .lr(lr * pg.scales[g]);

        // Every process draws the whole global batch (so the samplers stay in step) and
        // keeps its own rows.
        const std::vector<double> weights = o.data.weights_at(step);
        double weight_total = 0;
        for (double w : weights) weight_total += w;
        std::vector<std::pair<size_t, uint64_t>> picks;  // (source, position)
        for (int r = 0; r < o.batch_size; ++r) {
            size_t src = 0;
            if (sources.size() > 1) {
                double u = static_cast<double>(mix_hash(o.seed, static_cast<uint64_t>(step),
                                                        static_cast<uint64_t>(r)) >>
                                               11) *
                           0x1.0p-53 * weight_total;
                while (src + 1 < weights.size() && u >= weights[src]) u -= weights[src++];
            }
            picks.emplace_back(src, samplers[src].next());
        }

        clear_gradients(params);
        double step_loss = 0;
        for (int m = 0; m < o.grad_accum; ++m) {
            torch::Tensor batch = torch::empty({micro_rows, T + 1}, torch::kInt64);
            auto acc = batch.accessor<int64_t, 2>();
            for (int r = 0; r < micro_rows; ++r) {
                const auto& [src, pos] =
                    picks[static_cast<size_t>(dp.rank() * rows_per_process + m * micro_rows + r)];
                sources[src].read(pos, buf.size(), buf.data());
                for (int i = 0; i <= T; ++i) acc[r][i] = buf[static_cast<size_t>(i)];
            }
            torch::Tensor logits, hidden;  // hidden: only for --hidden-loss
            const auto student = [&] {
                if (!hidden_proj)
                    return model->forward(batch.narrow(1, 0, T), o.activation_checkpointing);
                hidden = model->hidden(batch.narrow(1, 0, T), o.activation_checkpointing);
                return model->logits_from_hidden(hidden);
            };
            if (use_bf16) {
                at::autocast::set_cpu_enabled(true);
                at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
                logits = student();
                at::autocast::set_cpu_enabled(false);
                at::autocast::clear_cache();
                logits = logits.to(torch::kFloat);
            } else {
                logits = student();
            }
            torch::Tensor loss = torch::nn::functional::cross_entropy(
                logits.reshape({-1, config.vocab}), batch.narrow(1, 1, T).reshape(-1));
            if (teacher) {
                const torch::Tensor input = batch.narrow(1, 0, T);
                const double temp = o.temperature;
                torch::Tensor t_logits, t_hidden, top_idx, top_val, top_lse;
                const int64_t record = step * o.grad_accum + m;
                const bool cached =
                    teacher_cache && teacher_cache->read(record, input, top_idx, top_val, top_lse);
                if (!cached) {
                    torch::NoGradGuard no_grad;
                    if (use_bf16) {
                        at::autocast::set_cpu_enabled(true);
                        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
                    }
                    t_hidden = (*teacher)->hidden(input);
                    t_logits = (*teacher)->logits_from_hidden(t_hidden);
                    if (use_bf16) {
                        at::autocast::set_cpu_enabled(false);
                        at::autocast::clear_cache();
                    }
                    t_logits = t_logits.to(torch::kFloat).reshape({-1, config.vocab});
                    if (teacher_cache) {
                        std::tie(top_val, top_idx) = t_logits.topk(teacher_cache->k(), -1);
                        top_lse = torch::logsumexp(t_logits / temp, -1);
                        teacher_cache->write(record, input, top_idx, top_val, top_lse);
                    }
                }
                // With a cache, over the teacher's top k tokens and one bucket for the rest.
                const torch::Tensor student_logits = logits.reshape({-1, config.vocab});
                const torch::Tensor kl =
                    teacher_cache
                        ? distillation_kl_top_k(student_logits, top_idx, top_val, top_lse, temp)
                        : distillation_kl(student_logits, t_logits, temp);
                loss = o.alpha * kl + (1 - o.alpha) * loss;
                if (hidden_proj)
                    loss = loss +
                           o.hidden_loss * torch::mse_loss(hidden_proj(hidden.to(torch::kFloat)),
                                                           t_hidden.to(torch::kFloat));
            }
            (loss / o.grad_accum).backward();
            step_loss += loss.item<double>() / o.grad_accum;
        }
        dp.average_gradients(params);
        step_loss = dp.sum({step_loss})[0] / dp.world_size();
        double grad_norm = 0;
        if (o.grad_clip > 0) grad_norm = torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
        optimizer.step();
        if (!pruned_masks.empty()) {
            torch::NoGradGuard no_grad;
            for (auto& [p, mask] : pruned_masks) p.mul_(mask);
        }
        if (!std::isfinite(step_loss))
            throw Error("training diverged at step " + std::to_string(step) +
                        " (loss is not finite); lower --lr or raise --warmup");
        ++step;
        meta.step = step;
        meta.tokens_seen += tokens_per_step;
        loss_sum_since_log += step_loss;
        ++steps_since_log;
        result.final_train_loss = step_loss;

        if (step % o.log_every == 0 || step == o.max_steps) {
            const double dt = std::chrono::duration<double>(Clock::now() - t_log).count();
            const double tok_s = static_cast<double>(steps_since_log * tokens_per_step) / dt;
            const double mean_loss = loss_sum_since_log / static_cast<double>(steps_since_log);
            const double done_s = elapsed();
            const double eta_steps = static_cast<double>(o.max_steps - step) *
                                     (dt / static_cast<double>(steps_since_log));
            const double eta = budget_s > 0 ? std::min(eta_steps, budget_s - done_s) : eta_steps;
            if (main_process) {
                metrics.write({{"step", step},
                               {"loss", mean_loss},
                               {"lr", lr},
                               {"grad_norm", grad_norm},
                               {"tokens", meta.tokens_seen},
                               {"tok_per_s", tok_s},
                               {"elapsed_s", done_s}});
                if (!o.quiet)
                    std::fprintf(stderr,
                                 "%sstep %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s | "
                                 "%s elapsed | ETA %s%s",
                                 tty ? "\r\033[K" : "", static_cast<long long>(step),
                                 static_cast<long long>(o.max_steps), mean_loss, lr, tok_s,
                                 format_duration(done_s).c_str(), format_duration(eta).c_str(),
                                 tty ? "" : "\n");
            }
            result.tokens_per_second = tok_s;
            loss_sum_since_log = 0;
            steps_since_log = 0;
            t_log = Clock::now();
        }
        meta.elapsed_seconds = elapsed();
        if (o.eval_every > 0 && step % o.eval_every == 0 && step != o.max_steps)
            run_eval(step, false);
        if (o.checkpoint_every > 0 && step % o.checkpoint_every == 0) save();
    }
    if (main_process && !o.quiet && tty) std::fprintf(stderr, "\n");
    if (main_process && !o.quiet && stopped_early)
        std::fprintf(stderr, "stopping at step %lld (%s)\n", static_cast<long long>(step),
                     g_stop_requested ? "interrupted" : "wall-clock budget reached");

    meta.elapsed_seconds = elapsed();
    const EvalResult e = run_eval(step, true);
    result.val_loss = e.loss;
    result.val_bits_per_byte = e.bits_per_byte;
    result.steps = step;
    if (step > first_step || !fs::exists(ckpt_path)) save();
    result.checkpoint = ckpt_path;
    if (main_process) {
        write_text_atomically((fs::path(o.out_dir) / "loss.svg").string(),
                              loss_plot_svg(metrics.curves(), "edgelm train: " + o.out_dir));
        if (!o.export_path.empty() && o.lora_rank > 0) {
            write_lora_adapter(o.export_path, config, static_cast<float>(o.lora_alpha),
                               model->lora_matrices());
            result.exported = o.export_path;
        } else if (!o.export_path.empty()) {
            write_gguf(*model, vocabulary_from_spm_bytes(tokenizer_model), o.export_path,
                       o.export_type, "edgelm");
            result.exported = o.export_path;
        }
    }
    if (teacher_cache && main_process && !o.quiet)
        std::fprintf(stderr, "teacher cache %s: %lld batches read, %lld computed\n",
                     o.teacher_cache.c_str(), static_cast<long long>(teacher_cache->hits),
                     static_cast<long long>(teacher_cache->misses));
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    return result;
}

}  // namespace edgelm::train
