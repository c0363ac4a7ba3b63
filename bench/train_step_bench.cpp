// Training throughput of the libtorch model: tokens/s of forward + backward + AdamW for a
// shape, and model FLOPs utilisation against the fp32 matmul peak measured in the same run
// (the best of a square and the model's own matmul shapes). Prints JSON; medians of -r runs.
//   train_step_bench [--dim 288 --layers 6 --heads 6 --kv-heads 6 --ffn 768 --vocab 32000]
//                    [--ctx 256 --batch 4 -r 5 -t 2 --precision fp32|bf16]
#include <ATen/autocast_mode.h>
#include <malloc.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "train/llama_module.h"
#include "train/openmp_spin.h"
#include "train/trainer.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double matmul_gflops(int64_t m, int64_t k, int64_t n, int reps) {
    const torch::Tensor a = torch::randn({m, k}), b = torch::randn({k, n});
    torch::matmul(a, b);
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        torch::matmul(a, b);
        t.push_back(seconds_since(t0));
    }
    return 2.0 * static_cast<double>(m * k * n) / median(t) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    edgelm::train::restart_with_short_openmp_spin(argv);  // see openmp_spin.h
    int dim = 288, layers = 6, heads = 6, kv_heads = 6, ffn = 768, vocab = 32000, ctx = 256;
    int batch = 4, reps = 5, threads = 2;
    std::string precision = "fp32";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--dim")
            dim = std::atoi(v);
        else if (k == "--layers")
            layers = std::atoi(v);
        else if (k == "--heads")
            heads = std::atoi(v);
        else if (k == "--kv-heads")
            kv_heads = std::atoi(v);
        else if (k == "--ffn")
            ffn = std::atoi(v);
        else if (k == "--vocab")
            vocab = std::atoi(v);
        else if (k == "--ctx")
            ctx = std::atoi(v);
        else if (k == "--batch")
            batch = std::atoi(v);
        else if (k == "-r")
            reps = std::atoi(v);
        else if (k == "-t")
            threads = std::atoi(v);
        else if (k == "--precision")
            precision = v;
        else {
            std::fprintf(stderr, "train_step_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    torch::set_num_threads(threads);
    mallopt(M_MMAP_MAX, 0);  // as run_training does (src/train/training_loop.cpp)
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    const edgelm::ModelConfig c =
        edgelm::ModelConfig::llama(dim, layers, heads, kv_heads, ffn, vocab, ctx, true);
    edgelm::train::LlamaModel model(c, layers);
    model->init_weights(1);
    const std::vector<torch::Tensor> params = model->parameters();
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-4));
    const torch::Tensor data = torch::randint(0, vocab, {batch, ctx + 1}, torch::kInt64);
    const bool bf16 = precision == "bf16";

    std::vector<double> fwd, bwd, step;
    for (int r = 0; r <= reps; ++r) {  // run 0 warms up
        const auto t0 = std::chrono::steady_clock::now();
        edgelm::train::clear_gradients(params);
        if (bf16) {
            at::autocast::set_cpu_enabled(true);
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        }
        torch::Tensor logits = model->forward(data.narrow(1, 0, ctx));
        if (bf16) {
            at::autocast::set_cpu_enabled(false);
            at::autocast::clear_cache();
        }
        const torch::Tensor loss = torch::nn::functional::cross_entropy(
            logits.to(torch::kFloat).reshape({-1, vocab}), data.narrow(1, 1, ctx).reshape(-1));
        loss.item<float>();
        const double t_fwd = seconds_since(t0);
        loss.backward();
        const double t_bwd = seconds_since(t0) - t_fwd;
        opt.step();
        const double t_all = seconds_since(t0);
        if (r > 0) fwd.push_back(t_fwd), bwd.push_back(t_bwd), step.push_back(t_all);
    }
    edgelm::train::TrainOptions o;
    o.shape = c;
    o.batch_size = batch;
    o.max_steps = 1;
    const edgelm::train::TrainPlan plan = edgelm::train::plan_training(o);
    const double tokens = static_cast<double>(batch) * ctx;
    const double tok_s = tokens / median(step);
    const double peak = std::max({matmul_gflops(1024, 1024, 1024, 5),
                                  matmul_gflops(static_cast<int64_t>(batch) * ctx, dim, ffn, 5),
                                  matmul_gflops(static_cast<int64_t>(batch) * ctx, dim, vocab, 3)});
    const double achieved = plan.flops_per_token * tok_s / 1e9;
    std::printf(
        "{\"dim\": %d, \"layers\": %d, \"vocab\": %d, \"ctx\": %d, \"batch\": %d, \"threads\": %d,"
        " \"precision\": \"%s\", \"params\": %llu, \"forward_s\": %.4f, \"backward_s\": %.4f,"
        " \"step_s\": %.4f, \"tokens_per_s\": %.1f, \"model_gflops\": %.1f,"
        " \"fp32_matmul_peak_gflops\": %.1f, \"mfu\": %.3f}\n",
        dim, layers, vocab, ctx, batch, threads, precision.c_str(),
        static_cast<unsigned long long>(plan.params), median(fwd), median(bwd), median(step), tok_s,
        achieved, peak, achieved / peak);
}
