// Unstructured magnitude pruning: exactly the smallest weights become zero (globally or
// per matrix), embeddings stay whole unless asked, the model still runs, and bad input is
// refused without touching the input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "quant/magnitude_prune.h"
#include "quant/quantize_model.h"
#include "runtime/session.h"
#include "runtime/sparse_weights.h"
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
        const MagnitudePruneReport r =
            prune_magnitude(m.path, out, {0.5, per_tensor, false, false});
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
        Session s(Model::load(out), {0, 1, {}, {}});
        EXPECT_EQ(s.eval(std::vector<TokenId>{1, 2, 3}).size(), 300u);
    }
    const std::string all = temp_path("mp-all.gguf");
    const MagnitudePruneReport r = prune_magnitude(m.path, all, {0.3, false, true, false});
    EXPECT_EQ(r.tensors.size(), 16u);
}

TEST(SparseKernels, MatchTheScalarReferenceAndTheDenseRow) {
    std::mt19937 rng(4);
    std::normal_distribution<float> dist;
    std::uniform_real_distribution<double> u(0, 1);
    for (double sparsity : {0.0, 0.5, 0.9, 1.0}) {
        const int64_t rows = 6, cols = 104;  // 13 mask bytes per row: an odd tail
        std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(cols));
        for (float& v : w) v = u(rng) < sparsity ? 0.0f : dist(rng);
        for (float& v : x) v = dist(rng);
        SparseMatrixData data;
        const WeightMatrix m = pack_sparse_matrix(w.data(), rows, cols, data);
        for (int64_t r = 0; r < rows; ++r) {
            double expect = 0;
            for (int64_t c = 0; c < cols; ++c) expect += double(w[r * cols + c]) * x[c];
            EXPECT_NEAR(sparse_dot_reference(m, r, x.data()), expect, 1e-4);
            EXPECT_NEAR(sparse_dot(m, r, x.data()), expect, 1e-4);
            std::vector<float> row(static_cast<size_t>(cols));
            sparse_row_to_float(m, r, row.data());
            for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(row[c], w[r * cols + c]);
        }
    }
}

// Above the break-even the matrices run with the sparse kernel, below it expanded.
class SparseStorage : public ::testing::TestWithParam<double> {};

TEST_P(SparseStorage, RunsAsTheDenseModel) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, false), DType::F16,
                             "mp-sparse-src.gguf");
    const std::string dense = temp_path("mp-dense.gguf"), sparse = temp_path("mp-sparse.gguf");
    MagnitudePruneOptions o{GetParam(), true, false, false};
    prune_magnitude(m.path, dense, o);
    o.sparse_storage = true;
    const MagnitudePruneReport r = prune_magnitude(m.path, sparse, o);
    for (const auto& t : r.tensors) EXPECT_TRUE(t.sparse) << t.name;
    EXPECT_LT(r.size_out, std::filesystem::file_size(dense));
    {
        GgufFile f(sparse);
        EXPECT_EQ(f.find_tensor("blk.0.ffn_up.weight"), nullptr);
        EXPECT_EQ(f.tensor("blk.0.ffn_up.weight.values").type, DType::F16);
    }
    const std::vector<TokenId> prompt = {1, 5, 9, 42, 7, 100, 3};
    Session a(Model::load(dense), {0, 1, {}, {}}), b(Model::load(sparse), {0, 1, {}, {}});
    const auto la = a.eval(prompt, true);
    const auto lb = b.eval(prompt, true);
    ASSERT_EQ(la.size(), lb.size());
    for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-3) << i;
    Session d(Model::load(sparse), {0, 1, {}, {}});
    std::span<const float> last;
    for (TokenId t : prompt) last = d.eval(std::span<const TokenId>(&t, 1));
    for (size_t i = 0; i < 300; ++i) ASSERT_NEAR(last[i], la[la.size() - 300 + i], 1e-3);
    const bool runs_sparse = Model::load(sparse)->weights().layers[0].w_up.sparse != nullptr;
    EXPECT_EQ(runs_sparse, GetParam() >= kSparseBreakEven);
    // Sparsity 0 on the pruned dense file stores the same zeros sparse.
    const std::string again = temp_path("mp-sparse-again.gguf");
    EXPECT_EQ(prune_magnitude(dense, again, {0.0, true, false, true}).size_out, r.size_out);
    // Tools that need the dense weights refuse the sparse file, and a mask that does not
    // match the values is refused at load.
    EXPECT_THROW(prune_magnitude(sparse, temp_path("mp-x.gguf"), {}), ArgumentError);
    EXPECT_THROW(quantize_model(sparse, temp_path("mp-x.gguf"), QuantizeOptions(DType::Q8_0)),
                 ArgumentError);
    std::string bytes;
    {
        std::ifstream in(sparse, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
        GgufFile f(sparse);
        const GgufTensor& mask = f.tensor("blk.1.attn_q.weight.mask");
        bytes[static_cast<size_t>(mask.data - f.raw_bytes())] ^= 0x01;  // one bit flipped
    }
    const std::string bad = temp_path("mp-damaged.gguf");
    std::ofstream(bad, std::ios::binary) << bytes;
    try {
        Model::load(bad);
        FAIL() << "a damaged mask loaded";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("blk.1.attn_q.weight"), std::string::npos);
    }
}

INSTANTIATE_TEST_SUITE_P(BelowAndAboveTheBreakEven, SparseStorage, ::testing::Values(0.7, 0.9));

TEST(MagnitudePrune, RefusesBadInput) {
    auto m =
        make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 32, false), DType::F32, "mp-bad.gguf");
    const std::string q = temp_path("mp-bad-q.gguf");
    quantize_model(m.path, q, QuantizeOptions(DType::Q8_0));
    EXPECT_THROW(prune_magnitude(q, temp_path("mp-x.gguf"), {}), ArgumentError);
    EXPECT_THROW(prune_magnitude(m.path, temp_path("mp-x.gguf"), {1.0, false, false, false}),
                 ArgumentError);
    EXPECT_THROW(prune_magnitude(m.path, temp_path("mp-x.gguf"), {-0.1, false, false, false}),
                 ArgumentError);
    EXPECT_THROW(prune_magnitude(m.path, m.path, {}), ArgumentError);
}

}  // namespace
}  // namespace edgelm
