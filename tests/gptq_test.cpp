// GPTQ (src/quant/gptq.h) and calibrated quantization: on correlated inputs GPTQ's layer
// output error is well below round to nearest's at the same type; a calibrated Q4_0 model
// stays closer to its f32 original (KL on the calibration text) than a rounded one; a
// calibration text shorter than the model's context is refused before anything is written.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/model_comparison.h"
#include "quant/calibration.h"
#include "quant/gptq.h"
#include "quant/quantize_model.h"
#include "runtime/model.h"
#include "runtime/model_writer.h"
#include "test_models.h"

namespace edgelm {
namespace {

// ||X (W - Q)^T||^2 for row-major X (n x cols), W and Q (rows x cols).
double output_error(const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& q, int64_t n, int64_t rows, int64_t cols) {
    double total = 0;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
            double y = 0;
            for (int64_t i = 0; i < cols; ++i)
                y += static_cast<double>(x[t * cols + i]) * (w[r * cols + i] - q[r * cols + i]);
            total += y * y;
        }
    return total;
}

TEST(GptqTest, CutsTheOutputErrorOfRoundToNearestOnCorrelatedInputs) {
    const int64_t rows = 24, cols = 96, n = 512;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // Inputs with a few shared factors and uneven scales, as hidden states have.
    std::vector<float> factors(static_cast<size_t>(8 * cols));
    for (float& v : factors) v = normal(rng);
    std::vector<float> x(static_cast<size_t>(n * cols));
    for (int64_t t = 0; t < n; ++t) {
        float z[8];
        for (float& v : z) v = normal(rng);
        for (int64_t i = 0; i < cols; ++i) {
            float v = 0.3f * normal(rng);
            for (int k = 0; k < 8; ++k) v += z[k] * factors[static_cast<size_t>(k * cols + i)];
            x[static_cast<size_t>(t * cols + i)] = v * (1.0f + static_cast<float>(i % 7));
        }
    }
    std::vector<double> h(static_cast<size_t>(cols * cols), 0.0);
    for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < cols; ++i)
            for (int64_t j = 0; j < cols; ++j)
                h[static_cast<size_t>(i * cols + j)] +=
                    static_cast<double>(x[t * cols + i]) * x[t * cols + j];
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (float& v : w) v = 0.05f * normal(rng);

    ThreadPool pool(2);
    for (DType type : {DType::Q4_0, DType::Q8_0}) {
        const TypeTraits& tt = type_traits(type);
        const std::vector<uint8_t> rtn = encode_tensor(w.data(), rows * cols, type);
        const std::vector<uint8_t> gptq = gptq_quantize(w.data(), rows, cols, h, type, {}, pool);
        ASSERT_EQ(gptq.size(), rtn.size());
        std::vector<float> q_rtn(w.size()), q_gptq(w.size());
        tt.to_float(rtn.data(), q_rtn.data(), rows * cols);
        tt.to_float(gptq.data(), q_gptq.data(), rows * cols);
        const double e_rtn = output_error(x, w, q_rtn, n, rows, cols);
        const double e_gptq = output_error(x, w, q_gptq, n, rows, cols);
        EXPECT_LT(e_gptq, 0.7 * e_rtn) << tt.name << ": gptq " << e_gptq << ", rtn " << e_rtn;
        // Same thread count or not, the bytes are the same (rows are independent).
        ThreadPool one(1);
        EXPECT_EQ(gptq_quantize(w.data(), rows, cols, h, type, {}, one), gptq) << tt.name;
    }
    EXPECT_THROW(gptq_quantize(w.data(), rows, cols, h, DType::F16, {}, pool), ArgumentError);
    EXPECT_THROW(gptq_quantize(w.data(), rows, 40, h, DType::Q4_0, {}, pool), ArgumentError);
}

std::string calibration_text() {
    return testing::random_words_text(11);
}

TEST(GptqTest, CalibratedQ4_0StaysCloserToTheOriginalThanRounding) {
    const ModelConfig c = testing::tiny_config(64, 2, 4, 2, 128, 300, 32, true);
    const testing::TestModel m = testing::make_test_model(c, DType::F32, "gptq-f32.gguf", 5, 0.1f);
    const std::string text = calibration_text();
    auto original = Model::load(m.path);
    CalibrationParams cp;
    cp.n_threads = 2;
    const CalibrationStats stats = collect_calibration_stats(original, text, cp);
    EXPECT_GT(stats.windows, 4);
    EXPECT_EQ(stats.inputs.size(), 2u * 7u + 1u);  // 7 matrices per block + the tied output

    const std::string rtn_path = testing::temp_path("gptq-rtn.gguf");
    const std::string gptq_path = testing::temp_path("gptq-cal.gguf");
    quantize_model(m.path, rtn_path, QuantizeOptions(DType::Q4_0));
    QuantizeOptions calibrated_options(DType::Q4_0);
    calibrated_options.calibration = &stats;
    calibrated_options.n_threads = 2;
    const QuantizeReport r = quantize_model(m.path, gptq_path, calibrated_options);
    int calibrated = 0;
    double gptq_error = 0, rounded_error = 0;
    for (const TensorQuantReport& t : r.tensors) {
        calibrated += t.gptq;
        gptq_error += t.output_rmse;
        rounded_error += t.rounded_output_rmse;
    }
    EXPECT_LT(gptq_error, 0.9 * rounded_error);
    EXPECT_EQ(calibrated, 15);
    const ComparisonResult rtn = compare_models(original, Model::load(rtn_path), text, {});
    const ComparisonResult cal = compare_models(original, Model::load(gptq_path), text, {});
    EXPECT_LT(cal.mean_kl, 0.8 * rtn.mean_kl) << "gptq " << cal.mean_kl << ", rtn " << rtn.mean_kl;
    std::filesystem::remove(rtn_path);
    std::filesystem::remove(gptq_path);
    std::filesystem::remove(m.path);
}

TEST(GptqTest, RefusesACalibrationTextShorterThanTheContext) {
    const ModelConfig c = testing::tiny_config(32, 1, 4, 2, 64, 300, 64, true);
    const testing::TestModel m = testing::make_test_model(c, DType::F32, "gptq-short.gguf");
    try {
        collect_calibration_stats(Model::load(m.path), "too short", {});
        FAIL() << "a short calibration text was accepted";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
    }
    std::filesystem::remove(m.path);
}

}  // namespace
}  // namespace edgelm
