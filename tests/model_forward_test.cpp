// The runtime's forward pass against an independent naive implementation written here
// in double precision from the float weights (no runtime code is shared), for multi-head
// and grouped-query attention, tied and separate output, partial and scaled RoPE; then
// greedy decoding across thread counts and the quantized types against f32.
#include <gtest/gtest.h>

#include <cmath>

#include "gguf/gguf_keys.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::make_test_model;
using testing::TestModel;
using testing::tiny_config;

// out = W x with W (rows, cols) row-major.
std::vector<double> naive_matvec(const std::vector<float>& w, const std::vector<double>& x,
                                 int rows) {
    const size_t cols = x.size();
    std::vector<double> out(static_cast<size_t>(rows), 0.0);
    for (size_t r = 0; r < out.size(); ++r)
        for (size_t c = 0; c < cols; ++c) out[r] += static_cast<double>(w[r * cols + c]) * x[c];
    return out;
}

std::vector<double> naive_rmsnorm(const std::vector<double>& x, const std::vector<float>& w,
                                  double eps) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * s * w[i];
    return out;
}

void naive_rope(std::vector<double>& v, int heads, const ModelConfig& c, int pos) {
    for (int h = 0; h < heads; ++h)
        for (int i = 0; i < c.rope_dim / 2; ++i) {
            const double theta = pos * static_cast<double>(c.rope_freq_scale) *
                                 std::pow(static_cast<double>(c.rope_base), -2.0 * i / c.rope_dim);
            double& a = v[static_cast<size_t>(h * c.head_dim + 2 * i)];
            double& b = v[static_cast<size_t>(h * c.head_dim + 2 * i + 1)];
            const double a0 = a, b0 = b;
            a = a0 * std::cos(theta) - b0 * std::sin(theta);
            b = a0 * std::sin(theta) + b0 * std::cos(theta);
        }
}

// Logits (n_tokens, vocab) of a causal decoder over `tokens`, from scratch.
std::vector<std::vector<double>> naive_forward(const TestModel& m,
                                               const std::vector<TokenId>& tokens) {
    const ModelConfig& c = m.config;
    auto W = [&](const std::string& n) -> const std::vector<float>& { return m.weights.at(n); };
    const size_t T = tokens.size();
    std::vector<std::vector<double>> x(T);
    for (size_t t = 0; t < T; ++t) {
        const auto& e = W(keys::kTokenEmbd);
        x[t].assign(e.begin() + static_cast<long>(tokens[t]) * c.dim,
                    e.begin() + static_cast<long>(tokens[t] + 1) * c.dim);
    }
    for (int l = 0; l < c.n_layers; ++l) {
        auto L = [&](const char* n) -> const std::vector<float>& {
            return W(keys::block_tensor(l, n));
        };
        std::vector<std::vector<double>> q(T), k(T), v(T);
        for (size_t t = 0; t < T; ++t) {
            auto h = naive_rmsnorm(x[t], L(keys::kAttnNorm), c.norm_eps);
            q[t] = naive_matvec(L(keys::kAttnQ), h, c.q_dim());
            k[t] = naive_matvec(L(keys::kAttnK), h, c.kv_dim());
            v[t] = naive_matvec(L(keys::kAttnV), h, c.kv_dim());
            naive_rope(q[t], c.n_heads, c, static_cast<int>(t));
            naive_rope(k[t], c.n_kv_heads, c, static_cast<int>(t));
        }
        for (size_t t = 0; t < T; ++t) {
            std::vector<double> att_out(static_cast<size_t>(c.q_dim()), 0.0);
            for (int h = 0; h < c.n_heads; ++h) {
                const int kvh = h * c.n_kv_heads / c.n_heads;
                std::vector<double> s(t + 1);
                double mx = -1e300;
                for (size_t u = 0; u <= t; ++u) {
                    double d = 0;
                    for (int i = 0; i < c.head_dim; ++i)
                        d += q[t][static_cast<size_t>(h * c.head_dim + i)] *
                             k[u][static_cast<size_t>(kvh * c.head_dim + i)];
                    s[u] = d / std::sqrt(static_cast<double>(c.head_dim));
                    mx = std::max(mx, s[u]);
                }
                double z = 0;
                for (double& e : s) z += (e = std::exp(e - mx));
                for (size_t u = 0; u <= t; ++u)
                    for (int i = 0; i < c.head_dim; ++i)
                        att_out[static_cast<size_t>(h * c.head_dim + i)] +=
                            s[u] / z * v[u][static_cast<size_t>(kvh * c.head_dim + i)];
            }
            auto o = naive_matvec(L(keys::kAttnOutput), att_out, c.dim);
            for (size_t i = 0; i < o.size(); ++i) x[t][i] += o[i];
            auto h = naive_rmsnorm(x[t], L(keys::kFfnNorm), c.norm_eps);
            auto g = naive_matvec(L(keys::kFfnGate), h, c.ffn_dim);
            auto up = naive_matvec(L(keys::kFfnUp), h, c.ffn_dim);
            for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * up[i];
            auto d = naive_matvec(L(keys::kFfnDown), g, c.dim);
            for (size_t i = 0; i < d.size(); ++i) x[t][i] += d[i];
        }
    }
    std::vector<std::vector<double>> logits(T);
    const auto& out_w = c.tied_output ? W(keys::kTokenEmbd) : W(keys::kOutput);
    for (size_t t = 0; t < T; ++t)
        logits[t] =
            naive_matvec(out_w, naive_rmsnorm(x[t], W(keys::kOutputNorm), c.norm_eps), c.vocab);
    return logits;
}

std::vector<TokenId> some_tokens(int n, int vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<TokenId> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<TokenId>(rng() % static_cast<uint32_t>(vocab));
    return t;
}

void expect_matches_naive(const ModelConfig& config, const std::string& name) {
    TestModel m = make_test_model(config, DType::F32, name + ".gguf");
    auto model = Model::load(m.path);
    const std::vector<TokenId> tokens = some_tokens(12, config.vocab, 3);
    const auto ref = naive_forward(m, tokens);
    Session s(model, {0, 2, {}, {}});
    std::span<const float> got = s.eval(tokens, /*all_logits=*/true);
    for (size_t t = 0; t < tokens.size(); ++t) {
        double scale = 0;
        for (double v : ref[t]) scale = std::max(scale, std::fabs(v));
        for (size_t i = 0; i < ref[t].size(); ++i)
            ASSERT_NEAR(got[t * static_cast<size_t>(config.vocab) + i], ref[t][i], 1e-4 * scale)
                << name << ": position " << t << " logit " << i;
    }
    std::filesystem::remove(m.path);
}

TEST(ModelForwardTest, MultiHeadTiedMatchesNaive) {
    expect_matches_naive(tiny_config(64, 2, 4, 4, 96, 300, 32, true), "mha-tied");
}

TEST(ModelForwardTest, GroupedQuerySeparateOutputMatchesNaive) {
    expect_matches_naive(tiny_config(64, 3, 8, 2, 128, 320, 32, false), "gqa-untied");
}

TEST(ModelForwardTest, PartialAndScaledRopeMatchesNaive) {
    ModelConfig c = tiny_config(64, 2, 4, 2, 96, 300, 32, true);
    c.rope_dim = c.head_dim / 2;
    c.rope_base = 500.0f;
    c.rope_freq_scale = 0.25f;
    expect_matches_naive(c, "rope-partial");
}

// Bit-identical logits whether tokens run one at a time or in batches (the batched
// kernels share the single-row kernels' summation order), for every weight type.
TEST(ModelForwardTest, IncrementalDecodeEqualsOneBatch) {
    for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
        TestModel m =
            make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, true), type, "incr.gguf");
        auto model = Model::load(m.path);
        const auto tokens = some_tokens(11, 300, 5);
        Session batch(model, {0, 1, {}, {}});
        const std::span<const float> batch_logits = batch.eval(tokens, true);
        const std::vector<float> all(batch_logits.begin(), batch_logits.end());
        Session one(model, {0, 1, {}, {}});
        for (size_t t = 0; t < tokens.size(); ++t) {
            std::span<const float> l = one.eval(std::span<const TokenId>(&tokens[t], 1));
            for (size_t i = 0; i < l.size(); ++i)
                ASSERT_EQ(l[i], all[t * 300 + i]) << dtype_name(type) << " position " << t;
        }
        std::filesystem::remove(m.path);
    }
}

TEST(ModelForwardTest, GreedyOutputIsIdenticalAcrossThreadCounts) {
    for (DType type : {DType::F32, DType::Q4_0}) {
        TestModel m = make_test_model(tiny_config(64, 2, 8, 2, 128, 400, 64, true), type,
                                      "threads.gguf", 11, 0.3f);
        auto model = Model::load(m.path);
        std::vector<std::vector<TokenId>> outputs;
        for (int threads : {1, 2, 3, 4}) {
            SessionParams p;
            p.n_threads = threads;
            p.sampler.temperature = 0;
            Session s(model, p);
            s.eval(some_tokens(5, 400, 1));
            std::vector<TokenId> out;
            for (int i = 0; i < 30; ++i) {
                TokenId t = s.sample();
                out.push_back(t);
                s.eval(std::span<const TokenId>(&t, 1));
            }
            outputs.push_back(out);
        }
        for (size_t i = 1; i < outputs.size(); ++i)
            EXPECT_EQ(outputs[i], outputs[0]) << dtype_name(type);
        std::filesystem::remove(m.path);
    }
}

double relative_rms(const std::vector<float>& got, const std::vector<double>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return std::sqrt(num / den);
}

// For each stored type, the runtime against the naive forward over the same weights
// round-tripped through that type: what is left is the error of quantizing activations
// (q8_0, q4_0 multiply Q8_0 activations, as ggml does) and nothing else. Each Q8_0
// rounding of an input vector costs ~0.5 % relative error; ~15 matrix products in a row
// give the ~2 % bound below. The kernels themselves are checked exactly in
// type_kernels_test.
TEST(ModelForwardTest, QuantizedTypesMatchNaiveOnTheirDequantizedWeights) {
    const ModelConfig c = tiny_config(128, 2, 4, 4, 256, 512, 32, false);
    const auto tokens = some_tokens(16, 512, 9);
    const std::pair<DType, double> bounds[] = {{DType::F32, 1e-6},
                                               {DType::F16, 1e-6},
                                               {DType::BF16, 1e-6},
                                               {DType::Q8_0, 3e-2},
                                               {DType::Q4_0, 3e-2}};
    std::vector<double> error_vs_f32;
    for (auto [type, bound] : bounds) {
        TestModel m = make_test_model(c, type, std::string("q-") + dtype_name(type) + ".gguf");
        TestModel dequantized = m;
        for (auto& [name, values] : dequantized.weights) {
            const DType stored = storage_type_for(name.find("norm") != std::string::npos
                                                      ? std::vector<int64_t>{1}
                                                      : std::vector<int64_t>{c.dim, 1},
                                                  type);
            const auto bytes =
                encode_tensor(values.data(), static_cast<int64_t>(values.size()), stored);
            type_traits(stored).to_float(bytes.data(), values.data(),
                                         static_cast<int64_t>(values.size()));
        }
        Session s(Model::load(m.path), {0, 2, {}, {}});
        auto l = s.eval(tokens, true);
        const std::vector<float> got(l.begin(), l.end());
        std::vector<double> ref, ref_f32;
        for (const auto& row : naive_forward(dequantized, tokens))
            ref.insert(ref.end(), row.begin(), row.end());
        for (const auto& row : naive_forward(m, tokens))
            ref_f32.insert(ref_f32.end(), row.begin(), row.end());
        EXPECT_LT(relative_rms(got, ref), bound) << dtype_name(type);
        error_vs_f32.push_back(relative_rms(got, ref_f32));
        std::filesystem::remove(m.path);
    }
    // Against the f32 weights, error grows as precision falls.
    for (size_t i = 1; i < error_vs_f32.size(); ++i)
        EXPECT_LT(error_vs_f32[i - 1], error_vs_f32[i]) << dtype_name(bounds[i].first);
    EXPECT_LT(error_vs_f32[0], 1e-6);
}

}  // namespace
}  // namespace edgelm
