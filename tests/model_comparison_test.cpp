// Scored windows and model comparison: every token is predicted exactly once, with or
// without BOS, for every stride; comparing a model with itself gives KL 0 and full
// agreement; against its Q4_0 copy the figures equal the ones computed here from the two
// models' logits directly; models with different vocabularies are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "eval/model_comparison.h"
#include "eval/scored_windows.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

// Counts, for each text position, how often a window predicts it.
std::vector<int> predictions_per_position(size_t n, TokenId bos, int n_ctx, int stride) {
    std::vector<TokenId> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = static_cast<TokenId>(1000 + i);  // position-coded
    ScoredWindows windows(ids, bos, n_ctx, stride);
    std::vector<int> count(n, 0);
    for (int64_t w = 0; w < windows.count(); ++w) {
        const ScoredWindow& win = windows.at(w);
        EXPECT_LE(win.tokens.size(), static_cast<size_t>(n_ctx));
        for (size_t i = win.first_scored; i + 1 < win.tokens.size(); ++i) {
            const TokenId target = win.tokens[i + 1];
            EXPECT_GE(target, 1000);
            ++count[static_cast<size_t>(target - 1000)];
        }
    }
    return count;
}

TEST(ScoredWindows, EveryTokenIsPredictedOnceWithAndWithoutBos) {
    for (int stride : {0, 1, 3, 7, 15, 40})
        for (size_t n : {2u, 15u, 16u, 17u, 50u}) {
            const std::vector<int> with_bos = predictions_per_position(n, 1, 16, stride);
            const std::vector<int> no_bos = predictions_per_position(n, -1, 16, stride);
            for (size_t i = 0; i < n; ++i) {
                EXPECT_EQ(with_bos[i], 1) << "bos, stride " << stride << ", n " << n << ", i " << i;
                // Without BOS nothing precedes the first token, so it alone is not predicted.
                EXPECT_EQ(no_bos[i], i == 0 ? 0 : 1)
                    << "no bos, stride " << stride << ", n " << n << ", i " << i;
            }
        }
}

TEST(ScoredWindows, RefusesBadParameters) {
    EXPECT_THROW(ScoredWindows({1}, 0, 16, 0), ArgumentError);
    EXPECT_THROW(ScoredWindows({1, 2, 3}, 0, 1, 0), ArgumentError);
    EXPECT_THROW(ScoredWindows({1, 2, 3}, 0, 16, -2), ArgumentError);
}

class ModelComparisonTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        const ModelConfig c = testing::tiny_config(32, 2, 4, 2, 64, 300, 16, true);
        f32_ = new std::string(testing::make_test_model(c, DType::F32, "cmp-f32.gguf").path);
        q4_ = new std::string(testing::make_test_model(c, DType::Q4_0, "cmp-q4.gguf").path);
        other_vocab_ = new std::string(
            testing::make_test_model(testing::tiny_config(32, 2, 4, 2, 64, 280, 16, true),
                                     DType::F32, "cmp-other.gguf")
                .path);
    }
    static void TearDownTestSuite() {
        for (std::string* p : {f32_, q4_, other_vocab_}) {
            std::filesystem::remove(*p);
            delete p;
        }
    }
    static inline std::string *f32_ = nullptr, *q4_ = nullptr, *other_vocab_ = nullptr;
    const std::string text_ = "a small model runs on every device and reads each line of text";
};

TEST_F(ModelComparisonTest, AModelAgreesWithItself) {
    auto a = Model::load(*f32_);
    PerplexityParams p;
    p.stride = 5;
    const ComparisonResult r = compare_models(a, a, text_, p);
    const PerplexityResult ppl = evaluate_perplexity(a, text_, p);
    EXPECT_NEAR(r.mean_kl, 0.0, 1e-12);
    EXPECT_EQ(r.top1_agreement, 1.0);
    EXPECT_EQ(r.a.tokens, ppl.tokens);
    EXPECT_NEAR(r.a.nll_nats, ppl.nll_nats, 1e-9 * ppl.nll_nats);
    EXPECT_EQ(r.b.nll_nats, r.a.nll_nats);
}

TEST_F(ModelComparisonTest, KlAndAgreementAgainstAQuantizedCopyMatchTheLogits) {
    auto a = Model::load(*f32_);
    auto b = Model::load(*q4_);
    // The text fits one window (n_ctx 16 holds BOS + 15 tokens): compute the figures here.
    const std::string kShortText = "a small model";
    const std::vector<TokenId> ids = a->tokenizer().encode(kShortText, false);
    ASSERT_LT(ids.size(), 15u);
    std::vector<TokenId> window{a->tokenizer().vocab().bos};
    window.insert(window.end(), ids.begin(), ids.end());
    Session sa(a, SessionParams{}), sb(b, SessionParams{});
    const std::span<const float> la = sa.eval(window, true), lb = sb.eval(window, true);
    const size_t vocab = static_cast<size_t>(a->config().vocab);
    double kl = 0, nll_b = 0;
    int agree = 0;
    for (size_t t = 0; t + 1 < window.size(); ++t) {
        const float* ra = la.data() + t * vocab;
        const float* rb = lb.data() + t * vocab;
        double za = 0, zb = 0;
        for (size_t k = 0; k < vocab; ++k) za += std::exp(ra[k]), zb += std::exp(rb[k]);
        for (size_t k = 0; k < vocab; ++k) {
            const double pa = std::exp(ra[k]) / za, pb = std::exp(rb[k]) / zb;
            kl += pa * std::log(pa / pb);
        }
        nll_b -= std::log(std::exp(rb[window[t + 1]]) / zb);
        agree += std::max_element(ra, ra + vocab) == ra + (std::max_element(rb, rb + vocab) - rb);
    }
    const double n = static_cast<double>(window.size() - 1);
    const ComparisonResult r = compare_models(a, b, kShortText, PerplexityParams{});
    EXPECT_GT(r.mean_kl, 1e-6);  // Q4_0 does change the distribution
    EXPECT_NEAR(r.mean_kl, kl / n, 1e-6);
    EXPECT_NEAR(r.b.nll_nats, nll_b, 1e-6 * nll_b);
    EXPECT_DOUBLE_EQ(r.top1_agreement, agree / n);
    EXPECT_GE(r.max_kl, r.mean_kl);
}

TEST_F(ModelComparisonTest, RefusesModelsWithDifferentVocabularies) {
    auto a = Model::load(*f32_);
    auto other = Model::load(*other_vocab_);
    try {
        compare_models(a, other, text_, PerplexityParams{});
        FAIL() << "different vocabularies were compared";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("one tokenizer"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace edgelm
