// Structured pruning removes what contributes nothing first: in models where some FFN
// channels, one kv group of heads or one layer write nothing to the residual stream, pruning
// that amount removes exactly those, and the smaller model's logits equal the original's.
// Ranked by magnitude and by calibration activations alike; bad input is refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "quant/calibration.h"
#include "quant/structured_prune.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::temp_path;

// Zeroes column c of a rows x cols matrix stored row-major.
void zero_col(std::vector<float>& w, int64_t cols, int64_t c) {
    for (size_t i = static_cast<size_t>(c); i < w.size(); i += static_cast<size_t>(cols)) w[i] = 0;
}

std::vector<float> last_logits(const std::string& path) {
    Session s(Model::load(path), SessionParams{});
    const std::vector<TokenId> prompt = {1, 5, 9, 20, 7};
    const std::span<const float> l = s.eval(prompt);
    return {l.begin(), l.end()};
}

void expect_same_logits(const std::string& a, const std::string& b) {
    const std::vector<float> la = last_logits(a), lb = last_logits(b);
    ASSERT_EQ(la.size(), lb.size());
    for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-4) << "logit " << i;
}

std::string calibration_text() {
    std::string text;
    for (int i = 0; i < 60; ++i) text += "every small model reads the line of text it is given. ";
    return text;
}

class StructuredPruneTest : public ::testing::Test {
  protected:
    testing::TestModel model(int layers, const std::string& name) {
        return testing::make_test_model(testing::tiny_config(32, layers, 4, 2, 128, 300, 16, true),
                                        DType::F32, name, 9, 0.2f);
    }
    void TearDown() override {
        for (const std::string& p : paths_) std::filesystem::remove(p);
    }
    std::string out(const std::string& name) {
        paths_.push_back(temp_path(name));
        return paths_.back();
    }
    std::vector<std::string> paths_;
};

TEST_F(StructuredPruneTest, FfnChannelsThatWriteNothingGoFirst) {
    testing::TestModel m = model(2, "prune-ffn.gguf");
    paths_.push_back(m.path);
    for (int l = 0; l < 2; ++l)
        for (int64_t c = 1; c < 128; c += 2)
            zero_col(m.weights.at(keys::block_tensor(l, keys::kFfnDown)), 128, c);
    testing::write_test_model(m, DType::F32, "prune-test");
    for (bool calibrated : {false, true}) {
        StructuredPruneOptions o;
        o.unit = PruneUnit::Ffn;
        o.amount = 0.5;
        CalibrationStats stats;
        if (calibrated) {
            stats = collect_calibration_stats(Model::load(m.path), calibration_text(), {});
            o.calibration = &stats;
        }
        const std::string pruned = out(calibrated ? "pruned-ffn-cal.gguf" : "pruned-ffn.gguf");
        const StructuredPruneReport r = prune_structured(m.path, pruned, o);
        EXPECT_EQ(r.after.ffn_dim, 64);
        EXPECT_LT(r.size_out, r.size_in);
        EXPECT_EQ(Model::load(pruned)->config().ffn_dim, 64);
        expect_same_logits(m.path, pruned);
    }
}

TEST_F(StructuredPruneTest, AKvGroupThatWritesNothingGoesFirst) {
    testing::TestModel m = model(2, "prune-heads.gguf");
    paths_.push_back(m.path);
    // kv head 1 serves query heads 2 and 3: columns 16..31 of attn_output (head_dim 8).
    for (int l = 0; l < 2; ++l)
        for (int64_t c = 16; c < 32; ++c)
            zero_col(m.weights.at(keys::block_tensor(l, keys::kAttnOutput)), 32, c);
    testing::write_test_model(m, DType::F32, "prune-test");
    StructuredPruneOptions o;
    o.unit = PruneUnit::Heads;
    o.amount = 0.5;
    const std::string pruned = out("pruned-heads.gguf");
    const StructuredPruneReport r = prune_structured(m.path, pruned, o);
    EXPECT_EQ(r.after.n_heads, 2);
    EXPECT_EQ(r.after.n_kv_heads, 1);
    EXPECT_EQ(r.after.head_dim, 8);
    EXPECT_EQ(Model::load(pruned)->config().head_dim, 8);
    expect_same_logits(m.path, pruned);
}

TEST_F(StructuredPruneTest, ALayerThatWritesNothingGoesFirst) {
    testing::TestModel m = model(3, "prune-layers.gguf");
    paths_.push_back(m.path);
    for (const char* t : {keys::kAttnOutput, keys::kFfnDown}) {
        std::vector<float>& w = m.weights.at(keys::block_tensor(1, t));
        std::fill(w.begin(), w.end(), 0.0f);
    }
    testing::write_test_model(m, DType::F32, "prune-test");
    StructuredPruneOptions o;
    o.unit = PruneUnit::Layers;
    o.amount = 1.0 / 3;
    CalibrationStats stats = collect_calibration_stats(Model::load(m.path), calibration_text(), {});
    o.calibration = &stats;
    const std::string pruned = out("pruned-layers.gguf");
    const StructuredPruneReport r = prune_structured(m.path, pruned, o);
    EXPECT_EQ(r.removed_layers, std::vector<int>{1});
    EXPECT_EQ(Model::load(pruned)->config().n_layers, 2);
    expect_same_logits(m.path, pruned);
}

TEST_F(StructuredPruneTest, RefusesBadInputAndLeavesTheInputAlone) {
    testing::TestModel m = model(2, "prune-bad.gguf");
    paths_.push_back(m.path);
    const std::string o_path = out("pruned-bad.gguf");
    StructuredPruneOptions o;
    for (double amount : {0.0, 1.0, -0.5, 1.5}) {
        o.amount = amount;
        EXPECT_THROW(prune_structured(m.path, o_path, o), ArgumentError) << amount;
    }
    o.amount = 0.5;
    EXPECT_THROW(prune_structured(m.path, m.path, o), ArgumentError);  // in place
    o.unit = PruneUnit::Layers;
    o.amount = 0.2;  // of 2 layers: rounds to none
    EXPECT_THROW(prune_structured(m.path, o_path, o), ArgumentError);
    EXPECT_FALSE(std::filesystem::exists(o_path));
    EXPECT_THROW(parse_prune_unit("neurons"), ArgumentError);
    const testing::TestModel q = testing::make_test_model(
        testing::tiny_config(32, 2, 4, 2, 128, 300, 16, true), DType::Q4_0, "prune-q4.gguf");
    paths_.push_back(q.path);
    o.unit = PruneUnit::Ffn;
    o.amount = 0.5;
    EXPECT_THROW(prune_structured(q.path, o_path, o), ArgumentError);  // prune before quantizing
    EXPECT_NO_THROW(Model::load(m.path));
}

}  // namespace
}  // namespace edgelm
