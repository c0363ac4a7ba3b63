// run_classifier_training: labelled JSONL texts -> a model with a classification head.
// Each text becomes the runtime's tokens (classifier_tokens), batches are right-padded
// (the decoder is causal, so padding after a text never changes its states) and the mean
// of the final normed hidden states over the real tokens goes through a linear head.
#include <ATen/autocast_mode.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/labelled_texts.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "runtime/sequence_classifier.h"
#include "tokenizer/gguf_vocabulary.h"
#include "train/fake_quant.h"
#include "train/gguf_export.h"
#include "train/gguf_import.h"
#include "train/llama_module.h"
#include "train/trainer.h"
#include "train/training_support.h"

namespace edgelm::train {

namespace {

struct Example {
    std::vector<TokenId> tokens;
    int64_t label;
};

// The examples set[idx]: (B, T) tokens padded with 0, the (B, T) mask of real tokens and
// the (B) labels.
struct Batch {
    torch::Tensor tokens, mask, labels;
};

Batch make_batch(const std::vector<Example>& set, const std::vector<size_t>& idx) {
    size_t T = 0;
    for (size_t i : idx) T = std::max(T, set[i].tokens.size());
    const auto B = static_cast<int64_t>(idx.size());
    torch::Tensor tokens = torch::zeros({B, static_cast<int64_t>(T)}, torch::kLong);
    torch::Tensor mask = torch::zeros({B, static_cast<int64_t>(T)}, torch::kFloat);
    torch::Tensor labels = torch::empty({B}, torch::kLong);
    auto tok = tokens.accessor<int64_t, 2>();
    auto msk = mask.accessor<float, 2>();
    auto lab = labels.accessor<int64_t, 1>();
    for (int64_t b = 0; b < B; ++b) {
        const Example& e = set[idx[static_cast<size_t>(b)]];
        lab[b] = e.label;
        const std::vector<TokenId>& t = e.tokens;
        for (size_t k = 0; k < t.size(); ++k) {
            tok[b][static_cast<int64_t>(k)] = t[k];
            msk[b][static_cast<int64_t>(k)] = 1;
        }
    }
    return {tokens, mask, labels};
}

}  // namespace

ClassifyResult run_classifier_training(const TrainOptions& o, const ClassifyTask& task) {
    using Clock = std::chrono::steady_clock;
    const auto t_start = Clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration<double>(Clock::now() - t_start).count();
    };
    const auto need = [](bool ok, const std::string& what) {
        if (!ok) throw ArgumentError(what);
    };
    need(!o.init_from.empty(), "--task classify needs a --base model");
    need(!task.data.empty(), "--task classify needs --data FILE.jsonl");
    need(task.max_tokens == 0 || task.max_tokens >= 2, "--max-tokens must be >= 2");
    need(task.epochs >= 1 && task.max_steps >= 0, "--epochs must be >= 1, --steps >= 0");
    need(task.val_fraction >= 0 && task.val_fraction < 1, "--val-fraction must be in [0, 1)");
    need(o.batch_size >= 1 && o.lr > 0 && o.weight_decay >= 0 && o.grad_clip >= 0 &&
             o.warmup_steps >= 0 && o.max_minutes >= 0,
         "--batch-size and --lr must be positive; --weight-decay, --grad-clip, --warmup and "
         "--max-minutes >= 0");
    if (o.precision != "bf16" && o.precision != "fp32" && o.precision != "auto")
        throw ArgumentError("--precision '" + o.precision + "': choose fp32, bf16 or auto");
    const bool use_bf16 = o.precision == "bf16" || (o.precision == "auto" && cpu_has_bf16());
    int threads = o.threads;
    if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    torch::set_num_threads(threads);

    // The base: its shape, weights and tokenizer.
    const GgufFile base(o.init_from);
    const ModelConfig config = ModelConfig::from_gguf(base);
    const int max_tokens = task.max_tokens ? task.max_tokens : std::min(config.ctx, 256);
    need(max_tokens <= config.ctx, "--max-tokens " + std::to_string(max_tokens) +
                                       " exceeds the base model's context of " +
                                       std::to_string(config.ctx));
    Vocabulary vocab = read_vocabulary(base);
    const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(vocab);

    // Labels and examples.
    std::vector<data::LabelledText> texts;
    for (const std::string& path : task.data)
        for (data::LabelledText& t : data::read_labelled_texts(path)) texts.push_back(std::move(t));
    std::vector<std::string> labels = task.labels;
    if (labels.empty()) {
        std::set<std::string> seen;
        for (const data::LabelledText& t : texts) seen.insert(t.label);
        labels.assign(seen.begin(), seen.end());
    }
    need(labels.size() >= 2, "a classifier needs at least two labels (--labels or in the data)");
    std::map<std::string, int64_t> label_index;
    for (size_t i = 0; i < labels.size(); ++i)
        if (!label_index.emplace(labels[i], static_cast<int64_t>(i)).second)
            throw ArgumentError("--labels names '" + labels[i] + "' twice");
    std::vector<Example> all;
    all.reserve(texts.size());
    for (const data::LabelledText& t : texts) {
        const auto it = label_index.find(t.label);
        if (it == label_index.end())
            throw FormatError(t.where + ": label '" + t.label + "' is not one of --labels");
        all.push_back({classifier_tokens(*tokenizer, t.text, max_tokens), it->second});
    }
    texts.clear();
    std::vector<size_t> order(all.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(o.seed);
    std::shuffle(order.begin(), order.end(), rng);
    const auto n_val =
        static_cast<size_t>(std::llround(task.val_fraction * static_cast<double>(all.size())));
    std::vector<Example> train, val;
    for (size_t k = 0; k < order.size(); ++k)
        (k < n_val ? val : train).push_back(std::move(all[order[k]]));
    need(!train.empty(), "no training examples left after --val-fraction");

    torch::manual_seed(o.seed);
    LlamaModel model(config, config.blocks());
    copy_gguf_weights(base, *model);
    if (o.lora_rank > 0) {
        need(o.lora_alpha > 0 && o.lora_dropout >= 0 && o.lora_dropout < 1 &&
                 !o.lora_targets.empty(),
             "--lora needs targets, a positive alpha and a dropout in [0, 1)");
        need(o.qat == DType::F32, "--lora cannot be combined with --qat");
        model->add_lora(o.lora_rank, o.lora_alpha, o.lora_targets, o.lora_dropout, o.seed);
    }
    if (o.qat != DType::F32) {
        need(qat_supports(o.qat), std::string("--qat ") + dtype_name(o.qat) +
                                      ": quantization-aware training supports q8_0, q4_0 and q4_k");
        model->set_qat(o.qat);
    }
    const auto n_labels = static_cast<int64_t>(labels.size());
    torch::nn::Linear head(torch::nn::LinearOptions(config.dim, n_labels));
    {
        torch::NoGradGuard no_grad;
        head->weight.normal_(0, 0.02);
        head->bias.zero_();
    }
    std::vector<torch::Tensor> decay{head->weight}, no_decay{head->bias};
    for (const torch::Tensor& p : model->parameters())
        if (p.requires_grad())
            (p.dim() >= 2 && !p.is_same(model->tok_embd->weight) ? decay : no_decay).push_back(p);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    auto opts = [&](double wd) {
        auto a = std::make_unique<torch::optim::AdamWOptions>(o.lr);
        a->betas({o.beta1, o.beta2}).eps(o.adam_eps).weight_decay(wd);
        return a;
    };
    groups.emplace_back(decay, opts(o.weight_decay));
    groups.emplace_back(no_decay, opts(0.0));
    torch::optim::AdamW optimizer(groups);
    std::vector<torch::Tensor> params = decay;
    params.insert(params.end(), no_decay.begin(), no_decay.end());

    const auto logits_of = [&](const Batch& batch) {
        const torch::Tensor& tokens = batch.tokens;
        torch::Tensor h;
        if (use_bf16) {
            at::autocast::set_cpu_enabled(true);
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
            h = model->hidden(tokens);
            at::autocast::set_cpu_enabled(false);
            at::autocast::clear_cache();
        } else {
            h = model->hidden(tokens);
        }
        const torch::Tensor pooled =
            (h.to(torch::kFloat) * batch.mask.unsqueeze(-1)).sum(1) / batch.mask.sum(1, true);
        return head->forward(pooled);
    };
    const auto evaluate = [&](const std::vector<Example>& set) -> std::pair<double, double> {
        torch::NoGradGuard no_grad;
        model->eval();
        double loss = 0, correct = 0;
        for (size_t s = 0; s < set.size(); s += static_cast<size_t>(o.batch_size)) {
            std::vector<size_t> idx;
            for (size_t i = s; i < std::min(set.size(), s + static_cast<size_t>(o.batch_size)); ++i)
                idx.push_back(i);
            const Batch batch = make_batch(set, idx);
            const torch::Tensor logits = logits_of(batch);
            loss += torch::nn::functional::cross_entropy(
                        logits, batch.labels,
                        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                        .item<double>();
            correct += logits.argmax(1).eq(batch.labels).sum().item<double>();
        }
        model->train();
        const auto n = static_cast<double>(set.size());
        return {loss / n, correct / n};
    };

    const auto B = static_cast<size_t>(o.batch_size);
    const int64_t steps_per_epoch = static_cast<int64_t>((train.size() + B - 1) / B);
    int64_t total_steps = steps_per_epoch * task.epochs;
    if (task.max_steps > 0) total_steps = std::min(total_steps, task.max_steps);
    const double budget_s = o.max_minutes * 60.0;
    const bool tty = isatty(STDERR_FILENO) == 1;
    if (!o.quiet)
        std::fprintf(stderr,
                     "classify: %zu training and %zu validation texts, %lld labels, %lld steps "
                     "of %d (%s%s)\n",
                     train.size(), val.size(), static_cast<long long>(n_labels),
                     static_cast<long long>(total_steps), o.batch_size,
                     o.lora_rank > 0 ? "LoRA" : "full fine-tuning", use_bf16 ? ", bf16" : "");

    std::vector<nlohmann::json> metrics;
    ClassifyResult result;
    result.labels = labels;
    result.train_examples = static_cast<int64_t>(train.size());
    result.val_examples = static_cast<int64_t>(val.size());
    model->train();
    int64_t step = 0;
    double loss_since_log = 0;
    int64_t steps_since_log = 0;
    bool out_of_time = false;
    std::vector<size_t> perm(train.size());
    for (int epoch = 1; epoch <= task.epochs && step < total_steps && !out_of_time; ++epoch) {
        for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
        std::shuffle(perm.begin(), perm.end(), rng);
        for (size_t s = 0; s < perm.size() && step < total_steps; s += B) {
            if (budget_s > 0 && elapsed() >= budget_s) {
                out_of_time = true;
                break;
            }
            // Linear warm-up, then linear decay to zero over whichever budget ends first.
            double progress = static_cast<double>(step) / static_cast<double>(total_steps);
            if (budget_s > 0) progress = std::max(progress, elapsed() / budget_s);
            const double lr = step < o.warmup_steps ? o.lr * static_cast<double>(step + 1) /
                                                          static_cast<double>(o.warmup_steps + 1)
                                                    : o.lr * std::max(0.0, 1.0 - progress);
            for (auto& g : optimizer.param_groups())
                static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
            const std::vector<size_t> idx(
                perm.begin() + static_cast<std::ptrdiff_t>(s),
                perm.begin() + static_cast<std::ptrdiff_t>(std::min(perm.size(), s + B)));
            const Batch batch = make_batch(train, idx);
            const torch::Tensor loss =
                torch::nn::functional::cross_entropy(logits_of(batch), batch.labels);
            clear_gradients(params);
            loss.backward();
            if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
            optimizer.step();
            ++step;
            loss_since_log += loss.item<double>();
            ++steps_since_log;
            if (step % o.log_every == 0 || step == total_steps) {
                const double mean = loss_since_log / static_cast<double>(steps_since_log);
                const double done = elapsed();
                double eta =
                    done / static_cast<double>(step) * static_cast<double>(total_steps - step);
                if (budget_s > 0) eta = std::min(eta, budget_s - done);
                metrics.push_back({{"step", step},
                                   {"epoch", epoch},
                                   {"loss", mean},
                                   {"lr", lr},
                                   {"elapsed_s", done}});
                if (!o.quiet)
                    std::fprintf(
                        stderr,
                        "%sepoch %d | step %lld/%lld | loss %.4f | lr %.2e | %s elapsed | ETA %s%s",
                        tty ? "\r\033[K" : "", epoch, static_cast<long long>(step),
                        static_cast<long long>(total_steps), mean, lr,
                        format_duration(done).c_str(), format_duration(eta).c_str(),
                        tty ? "" : "\n");
                loss_since_log = 0;
                steps_since_log = 0;
            }
        }
        if (!val.empty()) {
            const auto [val_loss, accuracy] = evaluate(val);
            result.val_loss = val_loss;
            result.val_accuracy = accuracy;
            metrics.push_back({{"step", step},
                               {"epoch", epoch},
                               {"val_loss", val_loss},
                               {"val_accuracy", accuracy}});
            if (!o.quiet)
                std::fprintf(stderr, "%sepoch %d | val loss %.4f | val accuracy %.4f\n",
                             tty ? "\r\033[K" : "", epoch, val_loss, accuracy);
        }
    }
    if (out_of_time && !o.quiet)
        std::fprintf(stderr, "stopping at step %lld (--max-minutes reached)\n",
                     static_cast<long long>(step));
    result.steps = step;

    if (!o.out_dir.empty()) {
        std::filesystem::create_directories(o.out_dir);
        std::string text;
        for (const nlohmann::json& m : metrics) text += m.dump() + "\n";
        AtomicFileWriter w((std::filesystem::path(o.out_dir) / "metrics.jsonl").string());
        w.write(text.data(), text.size());
        w.commit();
    }
    if (!o.export_path.empty()) {
        torch::NoGradGuard no_grad;
        if (o.lora_rank > 0) {  // bake the adapters into the exported weights
            std::map<std::string, torch::Tensor> named;
            for (auto& [n, t] : gguf_named_parameters(*model)) named[n] = t;
            for (const auto& [key, m] : model->lora_matrices()) {
                const std::string name =
                    keys::block_tensor(key.first, lora_target_tensor(key.second));
                const torch::Tensor a =
                    torch::from_blob(const_cast<float*>(m.a.data()), {m.rank, m.cols});
                const torch::Tensor b =
                    torch::from_blob(const_cast<float*>(m.b.data()), {m.rows, m.rank});
                named.at(name).add_(torch::matmul(b, a) *
                                    model->blocks[static_cast<size_t>(key.first)]->lora_scale);
            }
        }
        ClassifierHeadSource h;
        h.labels = labels;
        h.max_tokens = max_tokens;
        const torch::Tensor w = head->weight.detach().to(torch::kFloat).contiguous();
        const torch::Tensor b = head->bias.detach().to(torch::kFloat).contiguous();
        h.weight.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
        h.bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
        const std::string name = base.get_string("general.name").value_or("edgelm") + "-classifier";
        write_gguf(*model, vocab, o.export_path, o.export_type, name, &h);
        result.exported = o.export_path;
    }
    return result;
}

}  // namespace edgelm::train
