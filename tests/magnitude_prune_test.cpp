// Unstructured magnitude pruning: exactly the smallest weights become zero (globally or
// per matrix), embeddings stay whole unless asked, the model still runs, and bad input is
// refused without touching the input.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "quant/magnitude_prune.h"
#include "quant/quantize_model.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

std::vector<float> values_of(const GgufTensor& t) {
    std::vector<float> v(static_cast<size_t>(t.n_elements));
    type_traits(t.type).to_float(t.data, v.data(), t.n_elements);
    return v;
}

TEST(MagnitudePrune, ZeroesExactlyTheSmallestWeights) {
    auto m =
        make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, false), DType::F32, "mp-src.gguf");
    // Make layer 1's FFN tiny: a global threshold takes most of it, per-matrix half.
    for (const char* n : {"blk.1.ffn_gate.weight", "blk.1.ffn_up.weight"})
        for (float& x : m.weights.at(n)) x *= 0.1f;
    testing::write_test_model(m, DType::F32, "mp");
    for (bool per_tensor : {false, true}) {
        const std::string out = temp_path(per_tensor ? "mp-t.gguf" : "mp-g.gguf");
        const MagnitudePruneReport r = prune_magnitude(m.path, out, {0.5, per_tensor, false});
        EXPECT_EQ(r.tensors.size(), 14u);  // 7 per layer; no embeddings
        GgufFile f(out);
        float max_zeroed = 0, min_kept = 1e9f;
        int64_t zeros = 0, n = 0;
        for (const auto& t : r.tensors) {
            const std::vector<float>& before = m.weights.at(t.name);
            const std::vector<float> after = values_of(f.tensor(t.name));
            int64_t z = 0;
            for (size_t i = 0; i < after.size(); ++i) {
                if (after[i] == 0.0f) {
                    ++z;
                    max_zeroed = std::max(max_zeroed, std::fabs(before[i]));
                } else {
                    ASSERT_EQ(after[i], before[i]);
                    min_kept = std::min(min_kept, std::fabs(before[i]));
                }
            }
            EXPECT_EQ(z, t.zeros);
            if (per_tensor) {
                EXPECT_NEAR(double(z) / t.n, 0.5, 0.01) << t.name;
            } else if (t.name == "blk.1.ffn_up.weight") {
                EXPECT_GT(double(z) / t.n, 0.9);
            }
            zeros += z;
            n += t.n;
        }
        EXPECT_NEAR(double(zeros) / n, 0.5, 0.01);
        if (!per_tensor) {
            EXPECT_LE(max_zeroed, min_kept);
        }
        EXPECT_EQ(values_of(f.tensor(keys::kTokenEmbd)), m.weights.at(keys::kTokenEmbd));
        Session s(Model::load(out), {0, 1, {}});
        EXPECT_EQ(s.eval(std::vector<TokenId>{1, 2, 3}).size(), 300u);
    }
    const std::string all = temp_path("mp-all.gguf");
    const MagnitudePruneReport r = prune_magnitude(m.path, all, {0.3, false, true});
    EXPECT_EQ(r.tensors.size(), 16u);
}

TEST(MagnitudePrune, RefusesBadInput) {
    auto m =
        make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 32, false), DType::F32, "mp-bad.gguf");
    const std::string q = temp_path("mp-bad-q.gguf");
    quantize_model(m.path, q, QuantizeOptions(DType::Q8_0));
    EXPECT_THROW(prune_magnitude(q, temp_path("mp-x.gguf"), {}), ArgumentError);
    EXPECT_THROW(prune_magnitude(m.path, temp_path("mp-x.gguf"), {1.0, false, false}),
                 ArgumentError);
    EXPECT_THROW(prune_magnitude(m.path, temp_path("mp-x.gguf"), {-0.1, false, false}),
                 ArgumentError);
    EXPECT_THROW(prune_magnitude(m.path, m.path, {}), ArgumentError);
}

}  // namespace
}  // namespace edgelm
