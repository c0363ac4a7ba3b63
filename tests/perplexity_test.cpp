// Perplexity windows: every token is scored once whatever the stride, the default equals
// non-overlapping windows, and a sliding window of stride 1 equals scoring each token from
// a fresh context holding the n_ctx - 1 tokens before it (computed here token by token).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/perplexity.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

class PerplexityTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        model_path_ = new std::string(
            testing::make_test_model(testing::tiny_config(32, 2, 4, 2, 64, 300, 16, true),
                                     DType::F32, "ppl-model.gguf")
                .path);
    }
    static void TearDownTestSuite() {
        std::filesystem::remove(*model_path_);
        delete model_path_;
    }
    static inline std::string* model_path_ = nullptr;
    const std::string text_ = "a small model runs on every device and reads each line of text";
};

TEST_F(PerplexityTest, EveryTokenIsScoredOnceForEveryStride) {
    auto model = Model::load(*model_path_);
    const size_t n = model->tokenizer().encode(text_, false).size();
    PerplexityParams p;
    const PerplexityResult plain = evaluate_perplexity(model, text_, p);
    EXPECT_EQ(plain.tokens, static_cast<int64_t>(n));
    for (int stride : {1, 3, 7, 15}) {
        p.stride = stride;
        const PerplexityResult r = evaluate_perplexity(model, text_, p);
        EXPECT_EQ(r.tokens, static_cast<int64_t>(n)) << "stride " << stride;
        if (stride == 15) {
            EXPECT_EQ(r.nll_nats, plain.nll_nats);  // 15 = n_ctx - 1: no overlap
        }
    }
}

TEST_F(PerplexityTest, StrideOneScoresEachTokenWithTheFullWindowBeforeIt) {
    auto model = Model::load(*model_path_);
    const std::vector<TokenId> ids = model->tokenizer().encode(text_, false);
    const TokenId bos = model->tokenizer().vocab().bos;
    const int n_ctx = model->config().ctx;
    double expected = 0;
    Session s(model, SessionParams{});
    for (size_t pos = 0; pos < ids.size(); ++pos) {
        std::vector<TokenId> w{bos};
        const size_t from = pos + 1 > static_cast<size_t>(n_ctx - 1) ? pos + 2 - n_ctx : 0;
        w.insert(w.end(), ids.begin() + static_cast<long>(from),
                 ids.begin() + static_cast<long>(pos));
        s.reset();
        const std::span<const float> logits = s.eval(w);
        double mx = logits[0], sum = 0;
        for (float v : logits) mx = std::max(mx, static_cast<double>(v));
        for (float v : logits) sum += std::exp(v - mx);
        expected -= logits[static_cast<size_t>(ids[pos])] - mx - std::log(sum);
    }
    PerplexityParams p;
    p.stride = 1;
    const PerplexityResult r = evaluate_perplexity(model, text_, p);
    EXPECT_NEAR(r.nll_nats, expected, 1e-3 * std::fabs(expected));
    p.stride = -1;
    EXPECT_THROW(evaluate_perplexity(model, text_, p), ArgumentError);
}

}  // namespace
}  // namespace edgelm
