// Activation-aware channel scaling (src/quant/activation_scaling.h): the scales it picks
// leave the model's function unchanged when applied to the float weights (columns times
// s, norm weights divided by s), it picks non-trivial scales when a few channels carry
// most of the activation, and there the scaled Q4_0 model stays closer to the original
// than GPTQ alone.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/thread_pool.h"
#include "eval/model_comparison.h"
#include "gguf/gguf_reader.h"
#include "quant/activation_scaling.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"
#include "runtime/model_writer.h"
#include "runtime/session.h"
#include "test_models.h"
#include "tokenizer/synthetic_vocabulary.h"

namespace edgelm {
namespace {

// A model in which channels 3 and 17 of every norm's output are 8x larger than the rest:
// the outlier channels real models have, and the case activation scaling is for.
testing::TestModel outlier_model(const std::string& name) {
    const ModelConfig c = testing::tiny_config(64, 2, 4, 2, 128, 300, 32, true);
    testing::TestModel m = testing::make_test_model(c, DType::F32, name, 5, 0.1f);
    for (auto& [tensor, values] : m.weights)
        if (tensor.find("_norm") != std::string::npos && tensor.rfind("blk.", 0) == 0)
            for (size_t ch : {3u, 17u}) values[ch] *= 8.0f;
    testing::write_test_model(m, DType::F32, "scaling-test");
    return m;
}

TEST(ActivationScalingTest, ScalesLeaveTheFunctionUnchangedAndTargetOutlierChannels) {
    testing::TestModel m = outlier_model("scale-src.gguf");
    const std::string text = testing::random_words_text(3);
    CalibrationParams cp;
    cp.n_threads = 2;
    const CalibrationStats stats = collect_calibration_stats(Model::load(m.path), text, cp);
    ThreadPool pool(2);
    const GgufFile in(m.path);
    const ChannelScales s = choose_channel_scales(
        in, stats, [](const std::string&) { return DType::Q4_0; }, pool);
    EXPECT_EQ(s.alpha.size(), 4u);  // attn and ffn norm of two blocks
    ASSERT_FALSE(s.divisors.empty()) << "no group chose a scale";
    for (const auto& [norm, d] : s.divisors) {
        // The outlier channels get the largest scales.
        const float rest = *std::max_element(d.begin() + 4, d.begin() + 17);
        EXPECT_GT(d[3], rest) << norm;
        EXPECT_GT(d[17], rest) << norm;
    }
    EXPECT_EQ(s.columns.size(), s.divisors.size() * 5 / 2);  // q, k, v or gate, up per norm

    // Apply them to the float weights: the logits stay the same.
    testing::TestModel scaled = m;
    scaled.path = testing::temp_path("scale-applied.gguf");
    for (const auto& [name, d] : s.divisors)
        for (size_t c = 0; c < d.size(); ++c) scaled.weights.at(name)[c] /= d[c];
    for (const auto& [name, col] : s.columns) {
        std::vector<float>& w = scaled.weights.at(name);
        for (size_t k = 0; k < w.size(); ++k) w[k] *= col[k % col.size()];
    }
    testing::write_test_model(scaled, DType::F32, "scaling-test");
    Session a(Model::load(m.path), {0, 1, {}, {}}), b(Model::load(scaled.path), {0, 1, {}, {}});
    const std::vector<TokenId> tokens = {1, 40, 7, 99, 250, 3, 17};
    const std::span<const float> la = a.eval(tokens, true);
    const std::vector<float> want(la.begin(), la.end());
    const std::span<const float> lb = b.eval(tokens, true);
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        num += (lb[i] - want[i]) * (lb[i] - want[i]);
        den += want[i] * want[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-5);
    std::filesystem::remove(scaled.path);
    std::filesystem::remove(m.path);
}

TEST(ActivationScalingTest, ScaledQ4_0StaysCloserToTheOriginalThanGptqAlone) {
    testing::TestModel m = outlier_model("scale-q-src.gguf");
    const std::string text = testing::random_words_text(3);
    auto original = Model::load(m.path);
    CalibrationParams cp;
    cp.n_threads = 2;
    const CalibrationStats stats = collect_calibration_stats(original, text, cp);
    QuantizeOptions o(DType::Q4_0);
    o.calibration = &stats;
    o.n_threads = 2;
    const std::string scaled_path = testing::temp_path("scale-q-awq.gguf");
    const std::string plain_path = testing::temp_path("scale-q-gptq.gguf");
    const QuantizeReport r = quantize_model(m.path, scaled_path, o);
    int scaled = 0;
    for (const TensorQuantReport& t : r.tensors) scaled += t.scaled;
    EXPECT_GT(scaled, 0);
    o.activation_scaling = false;
    quantize_model(m.path, plain_path, o);
    const ComparisonResult awq = compare_models(original, Model::load(scaled_path), text, {});
    const ComparisonResult gptq = compare_models(original, Model::load(plain_path), text, {});
    EXPECT_LT(awq.mean_kl, gptq.mean_kl) << "scaled " << awq.mean_kl << ", gptq " << gptq.mean_kl;
    std::filesystem::remove(scaled_path);
    std::filesystem::remove(plain_path);
    std::filesystem::remove(m.path);
}

}  // namespace
}  // namespace edgelm
