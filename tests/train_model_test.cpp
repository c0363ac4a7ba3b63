// The libtorch model against the runtime and against calculus:
//  * golden parity: logits of the trained-side model for fixed weights and tokens equal the
//    runtime's on the exported GGUF (max abs diff < 1e-4, f32) and greedy continuations are
//    the same, for MHA/GQA, tied/untied and shared-layer shapes;
//  * a finite-difference gradient check in double precision;
//  * activation checkpointing changes memory, not gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "runtime/model.h"
#include "runtime/session.h"
#include "test_models.h"
#include "tokenizer/synthetic_vocabulary.h"
#include "train/gguf_export.h"
#include "train/llama_module.h"

namespace edgelm {
namespace {

using testing::temp_path;

struct ParityCase {
    const char* name;
    int dim, layers, heads, kv_heads, ffn, vocab, ctx;
    bool tied;
    int blocks;
};

class GoldenParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(GoldenParity, RuntimeLogitsAndGreedyMatchTheTrainer) {
    const ParityCase& pc = GetParam();
    ModelConfig c = ModelConfig::llama(pc.dim, pc.layers, pc.heads, pc.kv_heads, pc.ffn, pc.vocab,
                                       pc.ctx, pc.tied);
    c.n_blocks = pc.blocks;
    torch::manual_seed(3);
    train::LlamaModel model(c, c.blocks());
    model->init_weights(11);
    {
        // Norm weights away from 1 and larger matrices, so every term matters.
        torch::NoGradGuard ng;
        for (auto& p : model->parameters()) {
            if (p.dim() == 1)
                p.add_(torch::randn_like(p) * 0.1);
            else
                p.mul_(4.0);
        }
    }
    model->eval();
    const std::string path = temp_path(std::string("parity-") + pc.name + ".gguf");
    train::write_gguf(*model, make_synthetic_spm_vocabulary(c.vocab), path, DType::F32, "parity");

    std::vector<TokenId> tokens;
    for (int i = 0; i < pc.ctx / 2; ++i) tokens.push_back((i * 37 + 5) % c.vocab);
    torch::Tensor input =
        torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), torch::kInt64)
            .unsqueeze(0);
    torch::NoGradGuard no_grad;
    const torch::Tensor expected = model->forward(input).squeeze(0).contiguous();

    auto runtime_model = Model::load(path);
    SessionParams params;
    params.sampler.temperature = 0;  // greedy
    Session session(runtime_model, params);
    const std::span<const float> got = session.eval(tokens, /*all_logits=*/true);
    ASSERT_EQ(got.size(), static_cast<size_t>(expected.numel()));
    const float* e = expected.data_ptr<float>();
    double max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i)
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - e[i])));
    EXPECT_LT(max_diff, 1e-4) << "largest |logit difference| between libtorch and the runtime";

    // Greedy continuation: the trainer-side model generates by re-running the prefix.
    std::vector<int64_t> seq(tokens.begin(), tokens.end());
    std::vector<TokenId> ours;
    for (int step = 0; step < pc.ctx / 2 - 1; ++step) {
        const TokenId next = session.sample();
        ours.push_back(next);
        session.eval(std::vector<TokenId>{next});
        const torch::Tensor logits =
            model->forward(torch::tensor(seq, torch::kInt64).unsqueeze(0)).select(1, -1);
        seq.push_back(logits.argmax(-1).item<int64_t>());
    }
    const std::vector<TokenId> theirs(seq.begin() + static_cast<long>(tokens.size()), seq.end());
    EXPECT_EQ(ours, theirs);
    std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GoldenParity,
    ::testing::Values(ParityCase{"mha_tied", 64, 2, 4, 4, 160, 300, 32, true, 0},
                      ParityCase{"gqa_untied", 96, 3, 6, 2, 256, 320, 40, false, 0},
                      ParityCase{"shared_layers", 64, 4, 4, 2, 128, 300, 32, true, 2}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// Loss of a tiny double-precision model on fixed tokens.
double tiny_loss(train::LlamaModelImpl& m, const torch::Tensor& batch) {
    const int64_t T = batch.size(1) - 1;
    const torch::Tensor logits = m.forward(batch.narrow(1, 0, T));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}),
                                                batch.narrow(1, 1, T).reshape(-1))
        .item<double>();
}

TEST(TrainModel, GradientsMatchFiniteDifferences) {
    ModelConfig c = ModelConfig::llama(16, 2, 4, 2, 24, 40, 8, true);
    torch::manual_seed(5);
    train::LlamaModel model(c, c.blocks());
    model->init_weights(5);
    model->to(torch::kDouble);
    {
        torch::NoGradGuard ng;
        for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.2);
    }
    const torch::Tensor batch = torch::randint(0, c.vocab, {2, 9}, torch::kInt64);
    const int64_t T = 8;
    model->zero_grad();
    const torch::Tensor logits = model->forward(batch.narrow(1, 0, T));
    torch::nn::functional::cross_entropy(logits.reshape({-1, c.vocab}),
                                         batch.narrow(1, 1, T).reshape(-1))
        .backward();

    int checked = 0;
    double worst = 0;
    std::mt19937 rng(9);
    for (auto& item : model->named_parameters()) {
        torch::Tensor p = item.value();
        const torch::Tensor grad = p.grad().clone();
        for (int k = 0; k < 4; ++k) {
            const int64_t i = static_cast<int64_t>(rng() % static_cast<uint32_t>(p.numel()));
            const double h = 1e-6;
            auto flat = p.view(-1);
            double plus, minus;
            {
                torch::NoGradGuard ng;
                const double orig = flat[i].item<double>();
                flat[i] = orig + h;
                plus = tiny_loss(*model, batch);
                flat[i] = orig - h;
                minus = tiny_loss(*model, batch);
                flat[i] = orig;
            }
            const double numeric = (plus - minus) / (2 * h);
            const double analytic = grad.view(-1)[i].item<double>();
            const double err = std::fabs(numeric - analytic) /
                               std::max(1e-6, std::fabs(numeric) + std::fabs(analytic));
            worst = std::max(worst, err);
            EXPECT_LT(err, 1e-5) << item.key() << "[" << i << "]: analytic " << analytic
                                 << " numeric " << numeric;
            ++checked;
        }
    }
    EXPECT_GT(checked, 40);
}

TEST(TrainModel, ActivationCheckpointingKeepsGradients) {
    ModelConfig c = ModelConfig::llama(32, 3, 4, 2, 64, 50, 16, false);
    torch::manual_seed(1);
    train::LlamaModel model(c, c.blocks());
    model->init_weights(1);
    model->train();
    const torch::Tensor batch = torch::randint(0, c.vocab, {3, 17}, torch::kInt64);
    auto grads = [&](bool checkpoint) {
        model->zero_grad();
        const torch::Tensor logits = model->forward(batch.narrow(1, 0, 16), checkpoint);
        torch::nn::functional::cross_entropy(logits.reshape({-1, c.vocab}),
                                             batch.narrow(1, 1, 16).reshape(-1))
            .backward();
        std::vector<torch::Tensor> g;
        for (auto& p : model->parameters()) g.push_back(p.grad().clone());
        return g;
    };
    const auto plain = grads(false), recomputed = grads(true);
    ASSERT_EQ(plain.size(), recomputed.size());
    for (size_t i = 0; i < plain.size(); ++i)
        EXPECT_TRUE(torch::allclose(plain[i], recomputed[i], 1e-5, 1e-7)) << "parameter " << i;
}

}  // namespace
}  // namespace edgelm
