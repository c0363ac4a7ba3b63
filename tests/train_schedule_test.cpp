// The trainer's torch-free parts: learning-rate schedule, window sampler (every window once
// per epoch, resumable), data mixtures, the dry-run plan and the loss plot.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "train/loss_plot.h"
#include "train/trainer.h"
#include "train/window_sampler.h"

namespace edgelm::train {
namespace {

TEST(LrSchedule, WarmupThenCosineToTheFloor) {
    const auto lr = [](int64_t s) { return lr_at(s, 10, decay_progress(s, 100, 10), 1.0, 0.1); };
    EXPECT_DOUBLE_EQ(lr(0), 0.1);
    EXPECT_DOUBLE_EQ(lr(9), 1.0);
    EXPECT_DOUBLE_EQ(lr(10), 1.0);
    EXPECT_NEAR(lr(55), 0.55, 1e-12);  // halfway: (0.1 + 1) / 2
    EXPECT_NEAR(lr(100), 0.1, 1e-12);
    for (int64_t s = 11; s < 100; ++s) EXPECT_LE(lr(s), lr(s - 1));
    // Warm-up-stable-decay: flat until the last 20 %, then the cosine over that part.
    EXPECT_DOUBLE_EQ(lr_at(50, 10, 0.79, 1.0, 0.1, 0.2), 1.0);
    EXPECT_NEAR(lr_at(50, 10, 0.9, 1.0, 0.1, 0.2), 0.55, 1e-12);
    EXPECT_NEAR(lr_at(50, 10, 1.0, 1.0, 0.1, 0.2), 0.1, 1e-12);
    // A wall-clock budget can be further along than the steps: the floor, not past it.
    EXPECT_NEAR(lr_at(20, 10, 1.5, 1.0, 0.1), 0.1, 1e-12);
}

TEST(WindowSampler, VisitsEveryWindowOncePerEpochAndResumes) {
    const uint64_t n = 10'000;
    const int seq = 64;
    WindowSampler a(n, seq, 42);
    std::set<uint64_t> seen;
    const uint64_t per_epoch = a.windows_per_epoch();
    EXPECT_GE(per_epoch, (n - seq) / seq);
    for (uint64_t i = 0; i < per_epoch; ++i) {
        const uint64_t p = a.next();
        EXPECT_LE(p + seq + 1, n);
        EXPECT_TRUE(seen.insert(p).second) << "window at " << p << " twice in one epoch";
    }
    for (uint64_t p : seen) EXPECT_EQ((p - *seen.begin()) % seq, 0u);
    // Into the second epoch, then a copy restored from the state continues identically.
    for (int i = 0; i < 37; ++i) a.next();
    WindowSampler b(n, seq, 42);
    b.restore(a.state());
    for (int i = 0; i < 500; ++i) ASSERT_EQ(a.next(), b.next());
    EXPECT_THROW(WindowSampler(60, 64, 1), ArgumentError);
}

TEST(DataMixture, ParsesPhasesAndRejectsNonsense) {
    const std::vector<std::string> dirs = {"a", "b"};
    const DataMixture m = DataMixture::parse(dirs, "a:0.7,b:0.3;@100=a:0,b:1");
    EXPECT_EQ(m.weights_at(0), (std::vector<double>{0.7, 0.3}));
    EXPECT_EQ(m.weights_at(99), (std::vector<double>{0.7, 0.3}));
    EXPECT_EQ(m.weights_at(100), (std::vector<double>{0.0, 1.0}));
    EXPECT_EQ(DataMixture::parse(dirs, "").weights_at(5), (std::vector<double>{1.0, 1.0}));
    for (const char* bad :
         {"c:1", "a:x", "a:-1", "a:0,b:0", "a:1;b:1", "a:1;@0=b:1", "@5=a:1", "a"})
        EXPECT_THROW(DataMixture::parse(dirs, bad), ArgumentError) << bad;
}

TEST(TrainPlan, CountsParametersBytesAndFlops) {
    TrainOptions o;
    o.shape = ModelConfig::llama(288, 6, 6, 6, 768, 32000, 256, true);
    o.batch_size = 4;
    o.max_steps = 10;
    const TrainPlan p = plan_training(o);
    EXPECT_EQ(p.params, o.shape.n_params());
    EXPECT_NEAR(static_cast<double>(p.params) / 1e6, 15.19, 0.01);  // llama2.c's stories15M
    EXPECT_EQ(p.bytes_f32, p.params * 4);
    EXPECT_LT(p.bytes_q4_0, p.bytes_q8_0);
    EXPECT_EQ(p.kv_cache_bytes, 2ull * 6 * 256 * 288 * 4);
    EXPECT_GT(p.flops_per_token, 6.0 * static_cast<double>(p.params));
    EXPECT_DOUBLE_EQ(p.total_flops, p.flops_per_token * 10 * 4 * 256);
    // Sharing 6 layers as 2 blocks stores a third of the block weights.
    o.shared_blocks = 2;
    EXPECT_LT(plan_training(o).params, p.params);
    EXPECT_EQ(plan_training(o).flops_per_token, p.flops_per_token);
}

TEST(DevicePresets, LandInTheirProfilesRanges) {
    struct Range {
        const char* name;
        double min_params, max_params, min_mb, max_mb;
    };
    for (const Range& r : {Range{"mcu", 1e6, 20e6, 0.5, 5}, Range{"iot", 10e6, 100e6, 5, 50},
                           Range{"mobile", 50e6, 300e6, 50, 200}}) {
        const DevicePreset p = device_preset(r.name, 4096, 256);
        TrainOptions o;
        o.shape = p.shape;
        const TrainPlan plan = plan_training(o);
        const double mb = static_cast<double>(p.intended_type == DType::Q4_0 ? plan.bytes_q4_0
                                                                             : plan.bytes_q8_0) /
                          1e6;
        EXPECT_GE(static_cast<double>(plan.params), r.min_params) << r.name;
        EXPECT_LE(static_cast<double>(plan.params), r.max_params) << r.name;
        EXPECT_GE(mb, r.min_mb) << r.name;
        EXPECT_LE(mb, r.max_mb) << r.name;
    }
    EXPECT_THROW(device_preset("toaster", 4096, 256), ArgumentError);
}

TEST(LossPlot, IsAnSvgWithBothCurves) {
    LossCurves c;
    for (int i = 1; i <= 10; ++i) c.train.emplace_back(i * 10, 5.0 / i);
    c.val.emplace_back(50, 1.5);
    c.val.emplace_back(100, 1.2);
    const std::string svg = loss_plot_svg(c, "run <1>");
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_NE(svg.find("run &lt;1&gt;"), std::string::npos);
    EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
    EXPECT_NE(svg.find("validation"), std::string::npos);
    EXPECT_NE(svg.find("polyline"), std::string::npos);
}

}  // namespace
}  // namespace edgelm::train
