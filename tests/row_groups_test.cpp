// Weights repacked into interleaved 4-row groups (runtime/row_groups.h) against the same
// weights in plain rows: every matrix product, over any row range (including ranges
// that cut a group, and the plain rows after the groups) and any number of tokens,
// gives bit-identical outputs, so neither the layout nor the thread split changes a
// result. Then whole models: logits with and without repacking.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <vector>

#include "runtime/ops.h"
#include "runtime/row_groups.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

TEST(RowGroupsTest, MatmulOverAnyRangeEqualsPlainRows) {
    for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
        const TypeTraits& tr = type_traits(type);
        if (!tr.group4) GTEST_SKIP() << "no group kernels on this CPU";
        const int64_t rows = 23, cols = 96;  // 5 groups and 3 plain rows
        const uint64_t rb = *row_bytes(type, cols);
        std::vector<uint8_t> bytes(static_cast<size_t>(rows) * rb);
        const std::vector<float> w = gaussian(static_cast<size_t>(rows * cols), 1);
        for (int64_t r = 0; r < rows; ++r)
            tr.from_float(w.data() + r * cols, bytes.data() + r * rb, cols);
        WeightMatrix plain;
        plain.traits = &tr;
        plain.rows = rows;
        plain.cols = cols;
        plain.row_bytes = rb;
        plain.data = bytes.data();
        const WeightArena arena(matrix_bytes(plain));
        const WeightMatrix grouped = group_rows(plain, arena.data());
        ASSERT_EQ(grouped.grouped_rows, 20);
        for (int n : {1, 2, 3, 4, 5, 9}) {
            const std::vector<float> x = gaussian(static_cast<size_t>(n * cols), 2);
            ActivationRows act;
            act.set(x.data(), n, cols, cols, tr.act_type);
            std::vector<float> want(static_cast<size_t>(n * rows));
            matmul_rows(plain, act, want.data(), rows, 0, rows);
            for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 23},
                                  {0, 20},
                                  {1, 7},
                                  {3, 4},
                                  {6, 22},
                                  {19, 23},
                                  {20, 23},
                                  {13, 14}}) {
                std::vector<float> got(static_cast<size_t>(n * rows), -1.0f);
                matmul_rows(grouped, act, got.data() + r0, rows, r0, r1);
                for (int t = 0; t < n; ++t)
                    for (int64_t r = r0; r < r1; ++r)
                        ASSERT_EQ(got[static_cast<size_t>(t * rows + r)],
                                  want[static_cast<size_t>(t * rows + r)])
                            << dtype_name(type) << " tokens " << n << " rows [" << r0 << ", " << r1
                            << ") row " << r << " token " << t;
            }
            std::vector<float> a(static_cast<size_t>(cols)), b(a);
            for (int64_t r = 0; r < rows; ++r) {
                matrix_row(a.data(), plain, r);
                matrix_row(b.data(), grouped, r);
                ASSERT_EQ(a, b) << dtype_name(type) << " matrix_row " << r;
            }
        }
    }
}

// A model whose k/v (6 rows: one group and two plain rows) and vocabulary (301) do not
// divide into groups, prompt batches and single-token steps, 1 to 3 threads.
TEST(RowGroupsTest, ModelLogitsEqualWithAndWithoutRepacking) {
    for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
        ModelConfig c = testing::tiny_config(96, 2, 16, 1, 128, 301, 32, true);
        testing::TestModel m = testing::make_test_model(c, type, "groups.gguf");
        ModelLoadOptions as_stored;
        as_stored.group_rows = false;
        auto plain = Model::load(m.path, as_stored);
        auto grouped = Model::load(m.path);
        const std::vector<TokenId> tokens = {1, 17, 300, 5, 42, 7, 99, 250, 3};
        for (int threads : {1, 2, 3}) {
            Session a(plain, {0, threads, {}, {}}), b(grouped, {0, threads, {}, {}});
            const std::span<const float> la = a.eval(tokens, true);
            const std::vector<float> want(la.begin(), la.end());
            const std::span<const float> lb = b.eval(tokens, true);
            ASSERT_EQ(std::vector<float>(lb.begin(), lb.end()), want)
                << dtype_name(type) << " batch, threads " << threads;
            const TokenId next = 11;
            const std::span<const float> sa = a.eval(std::span<const TokenId>(&next, 1));
            const std::vector<float> step(sa.begin(), sa.end());
            const std::span<const float> sb = b.eval(std::span<const TokenId>(&next, 1));
            ASSERT_EQ(std::vector<float>(sb.begin(), sb.end()), step)
                << dtype_name(type) << " step, threads " << threads;
        }
        std::filesystem::remove(m.path);
    }
}

}  // namespace
}  // namespace edgelm
