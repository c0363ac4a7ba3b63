// Weight clustering (`edgelm cluster`): the Huffman code, 1-D k-means with and without a
// rate target, the runtime's clustered kernels, and clustered models that run with the
// logits of the same weights stored as f32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "core/error.h"
#include "core/huffman_code.h"
#include "core/thread_pool.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "quant/cluster_model.h"
#include "quant/gptq.h"
#include "quant/quantize_model.h"
#include "quant/weight_clustering.h"
#include "runtime/clustered_weights.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::file_bytes;
using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

TEST(Huffman, RoundTripsAndStaysWithinOneBitOfTheEntropy) {
    std::mt19937 rng(3);
    std::geometric_distribution<int> geo(0.3);
    std::vector<uint8_t> symbols(20000);
    std::vector<uint64_t> counts(16, 0);
    for (uint8_t& s : symbols) {
        s = static_cast<uint8_t>(std::min(geo(rng), 15));
        ++counts[s];
    }
    const std::vector<uint8_t> lengths = huffman_code_lengths(counts);
    const std::vector<uint8_t> bytes = huffman_encode(lengths, symbols.data(), symbols.size());
    EXPECT_EQ(bytes.size() * 8 - huffman_encoded_bits(lengths, counts) < 8, true);
    double entropy = 0;
    for (uint64_t c : counts)
        if (c) entropy -= double(c) / symbols.size() * std::log2(double(c) / symbols.size());
    const double bits = double(huffman_encoded_bits(lengths, counts)) / symbols.size();
    EXPECT_GE(bits, entropy);
    EXPECT_LT(bits, entropy + 1);
    std::vector<uint8_t> back(symbols.size());
    ASSERT_TRUE(huffman_decode(lengths, bytes.data(), bytes.size(), back.data(), back.size()));
    EXPECT_EQ(back, symbols);
}

TEST(Huffman, LimitsCodeLengthsAndHandlesOneSymbol) {
    // Fibonacci counts make an unlimited code 39 bits deep.
    std::vector<uint64_t> counts(40);
    counts[0] = counts[1] = 1;
    for (size_t i = 2; i < counts.size(); ++i) counts[i] = counts[i - 1] + counts[i - 2];
    const std::vector<uint8_t> lengths = huffman_code_lengths(counts);
    for (uint8_t l : lengths) {
        EXPECT_GE(l, 1);
        EXPECT_LE(l, kMaxHuffmanBits);
    }
    std::vector<uint8_t> symbols;
    for (uint8_t s = 0; s < 40; ++s) symbols.push_back(s);
    const auto bytes = huffman_encode(lengths, symbols.data(), symbols.size());
    std::vector<uint8_t> back(symbols.size());
    ASSERT_TRUE(huffman_decode(lengths, bytes.data(), bytes.size(), back.data(), back.size()));
    EXPECT_EQ(back, symbols);

    const std::vector<uint8_t> one = huffman_code_lengths({0, 0, 7, 0});
    EXPECT_EQ(one, (std::vector<uint8_t>{0, 0, 1, 0}));
    const std::vector<uint8_t> same(7, 2);
    const auto b = huffman_encode(one, same.data(), same.size());
    EXPECT_EQ(b.size(), 1u);
    std::vector<uint8_t> out(7);
    ASSERT_TRUE(huffman_decode(one, b.data(), b.size(), out.data(), out.size()));
    EXPECT_EQ(out, same);
}

TEST(Huffman, RefusesBadCodesAndStreams) {
    const std::vector<uint8_t> lengths = {1, 2, 3, 3};
    const std::vector<uint8_t> symbols = {0, 1, 2, 3, 3, 2, 1, 0, 0};
    const auto bytes = huffman_encode(lengths, symbols.data(), symbols.size());
    std::vector<uint8_t> out(symbols.size());
    // Over-subscribed: three 1-bit codes.
    EXPECT_FALSE(huffman_decode({1, 1, 1}, bytes.data(), bytes.size(), out.data(), out.size()));
    // Too long, and no code at all.
    EXPECT_FALSE(huffman_decode({16, 1}, bytes.data(), bytes.size(), out.data(), out.size()));
    EXPECT_FALSE(huffman_decode({0, 0}, bytes.data(), bytes.size(), out.data(), out.size()));
    // Truncated, or with a byte too many.
    EXPECT_FALSE(huffman_decode(lengths, bytes.data(), bytes.size() - 1, out.data(), out.size()));
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(huffman_decode(lengths, longer.data(), longer.size(), out.data(), out.size()));
    // A pattern no code starts with: {1, 2} leaves "11" unused.
    const std::vector<uint8_t> ones = {0xFF};
    EXPECT_FALSE(huffman_decode({1, 2}, ones.data(), 1, out.data(), 1));
    EXPECT_THROW(huffman_encode({1, 0}, symbols.data() + 1, 1), std::invalid_argument);
}

std::vector<float> normal_values(size_t n, uint32_t seed, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0, sd);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

double mse(const std::vector<float>& v, const ClusteredTensor& c) {
    double se = 0;
    for (int64_t r = 0; r < c.rows; ++r)
        for (int64_t k = 0; k < c.cols; ++k) {
            const double d = v[static_cast<size_t>(r * c.cols + k)] - c.value(r, k);
            se += d * d;
        }
    return se / static_cast<double>(v.size());
}

TEST(WeightClustering, KMeansFindsSeparatedClustersAndAssignsToTheNearest) {
    std::mt19937 rng(5);
    std::normal_distribution<float> noise(0, 0.01f);
    const float means[4] = {-1.0f, -0.25f, 0.5f, 2.0f};
    std::vector<float> v(4000);
    for (size_t i = 0; i < v.size(); ++i) v[i] = means[i % 4] + noise(rng);
    const ClusteredTensor c = cluster_weights(v.data(), 40, 100, {.bits = 2, .row_scales = false});
    ASSERT_EQ(c.codebook.size(), 4u);
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(c.codebook[static_cast<size_t>(j)], means[j], 0.01);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(c.indices[i], i % 4);

    // Gaussian weights: every weight's center is its nearest, and 16 centers beat 4.
    const std::vector<float> g = normal_values(8192, 9);
    const ClusteredTensor c4 = cluster_weights(g.data(), 64, 128, {.bits = 4, .row_scales = false});
    for (size_t i = 0; i < g.size(); ++i) {
        const float mine = std::abs(g[i] - c4.codebook[c4.indices[i]]);
        for (float center : c4.codebook) ASSERT_LE(mine, std::abs(g[i] - center) + 1e-6f);
    }
    const ClusteredTensor c2 = cluster_weights(g.data(), 64, 128, {.bits = 2, .row_scales = false});
    // Lloyd-Max for N(0, 1): 0.1175 at 2 bits, 0.0095 at 4 bits.
    EXPECT_NEAR(mse(g, c2), 0.1175, 0.01);
    EXPECT_NEAR(mse(g, c4), 0.0095, 0.002);
    EXPECT_GT(index_entropy(index_counts(c4)), 3.5);
}

TEST(WeightClustering, RateTargetShortensTheCodeForALittleError) {
    const std::vector<float> g = normal_values(16384, 11, 0.05f);
    const ClusteredTensor plain = cluster_weights(g.data(), 128, 128, {.bits = 4});
    const ClusteredTensor ecsq = cluster_weights(g.data(), 128, 128, {.bits = 4, .rate = 3.0});
    const double h_plain = index_entropy(index_counts(plain));
    const double h = index_entropy(index_counts(ecsq));
    EXPECT_GT(h_plain, 3.6);
    EXPECT_LE(h, 3.0 + 1e-6);
    EXPECT_GT(h, 2.8);  // the search stops near the target, not far below it
    // At 3 bits of entropy the error stays below 3-bit Lloyd-Max's (0.0345 sd^2).
    EXPECT_GT(mse(g, ecsq), mse(g, plain));
    EXPECT_LT(mse(g, ecsq), 0.0345 * 0.05 * 0.05);
}

TEST(WeightClustering, PrunedZerosKeepAClusterAtZero) {
    std::vector<float> v = normal_values(4096, 13);
    for (size_t i = 0; i < v.size(); i += 2) v[i] = 0.0f;
    const ClusteredTensor c = cluster_weights(v.data(), 32, 128, {.bits = 4});
    ASSERT_TRUE(c.zero_cluster);
    EXPECT_EQ(c.codebook[0], 0.0f);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(c.indices[i] == 0, v[i] == 0.0f) << i;
}

TEST(WeightClustering, PerRowCodebooksFollowEachRowsScale) {
    std::vector<float> v = normal_values(64 * 96, 17);
    for (int64_t r = 0; r < 64; ++r)
        for (int64_t k = 0; k < 96; ++k) v[static_cast<size_t>(r * 96 + k)] *= 0.01f * (1 + r);
    const ClusteredTensor tensor =
        cluster_weights(v.data(), 64, 96, {.bits = 3, .row_scales = false});
    const ClusteredTensor rows = cluster_weights(v.data(), 64, 96, {.bits = 3, .per_row = true});
    EXPECT_EQ(rows.codebook.size(), 64u * 8);
    // A shared codebook spends its centers on the wide rows; the narrow rows' weights all
    // fall into the one or two centers near zero. Their own codebooks keep them.
    const auto row_mse = [&](const ClusteredTensor& c, int64_t r) {
        double se = 0;
        for (int64_t k = 0; k < 96; ++k) {
            const double d = v[static_cast<size_t>(r * 96 + k)] - c.value(r, k);
            se += d * d;
        }
        return se / 96;
    };
    for (int64_t r = 0; r < 4; ++r) EXPECT_LT(row_mse(rows, r), 0.1 * row_mse(tensor, r)) << r;
}

TEST(WeightClustering, GptqIndicesLowerTheOutputError) {
    const int64_t rows = 24, cols = 64, n_inputs = 512;
    const std::vector<float> w = normal_values(static_cast<size_t>(rows * cols), 21, 0.1f);
    // Correlated inputs: x = z A with a random A, so H is far from diagonal.
    const std::vector<float> z = normal_values(static_cast<size_t>(n_inputs * cols), 22);
    const std::vector<float> a = normal_values(static_cast<size_t>(cols * cols), 23, 0.3f);
    std::vector<double> x(static_cast<size_t>(n_inputs * cols), 0.0);
    for (int64_t n = 0; n < n_inputs; ++n)
        for (int64_t i = 0; i < cols; ++i)
            for (int64_t j = 0; j < cols; ++j)
                x[n * cols + j] +=
                    z[n * cols + i] * a[i * cols + j] + (i == j ? z[n * cols + i] : 0);
    std::vector<double> h(static_cast<size_t>(cols * cols), 0.0);
    for (int64_t n = 0; n < n_inputs; ++n)
        for (int64_t i = 0; i < cols; ++i)
            for (int64_t j = 0; j < cols; ++j) h[i * cols + j] += x[n * cols + i] * x[n * cols + j];
    const auto output_error = [&](const ClusteredTensor& c) {
        double se = 0;
        for (int64_t n = 0; n < n_inputs; ++n)
            for (int64_t r = 0; r < rows; ++r) {
                double d = 0;
                for (int64_t k = 0; k < cols; ++k)
                    d += x[n * cols + k] * (w[r * cols + k] - c.value(r, k));
                se += d * d;
            }
        return se;
    };
    const ClusterParams p{.bits = 3};
    const std::vector<double> u = gptq_inverse_factor(h, cols, GptqParams{});
    ThreadPool pool(2);
    const ClusteredTensor nearest = cluster_weights(w.data(), rows, cols, p);
    const ClusteredTensor gptq =
        cluster_weights(w.data(), rows, cols, p, {.gptq_factor = &u, .pool = &pool});
    EXPECT_EQ(gptq.codebook, nearest.codebook);  // same centers, other indices
    EXPECT_LT(output_error(gptq), 0.8 * output_error(nearest));
}

TEST(WeightClustering, RefusesBadParameters) {
    const std::vector<float> v = normal_values(64, 1);
    EXPECT_THROW(cluster_weights(v.data(), 2, 32, {.bits = 0}), ArgumentError);
    EXPECT_THROW(cluster_weights(v.data(), 2, 32, {.bits = 9}), ArgumentError);
    EXPECT_THROW(cluster_weights(v.data(), 2, 32, {.bits = 4, .rate = 4}), ArgumentError);
}

TEST(ClusteredKernels, MatchTheScalarReference) {
    for (int bits : {4, 5, 6}) {  // nibbles; bytes looked up in registers; gathered
        const int k = 1 << bits;
        const int64_t rows = 5, cols = 96;
        std::mt19937 rng(bits);
        std::vector<uint8_t> idx(rows * cols);
        for (uint8_t& i : idx) i = static_cast<uint8_t>(rng() % k);
        const std::vector<float> book = normal_values(static_cast<size_t>(rows * k), 2);
        const std::vector<float> x = normal_values(cols, 3);
        for (bool per_row : {false, true}) {
            // Per tensor: with row scales.
            std::vector<float> scales;
            if (!per_row)
                for (int64_t r = 0; r < rows; ++r) scales.push_back(0.5f + 0.25f * r);
            const auto scale = [&](int64_t r) { return per_row ? 1.0f : scales[r]; };
            ClusteredMatrixData data;
            const WeightMatrix w =
                pack_clustered_matrix(idx, book, k, per_row, scales, rows, cols, data);
            EXPECT_EQ(w.index_bits, bits == 4 ? 4 : 8);
            for (int64_t r = 0; r < rows; ++r) {
                double expect = 0;
                for (int64_t c = 0; c < cols; ++c)
                    expect +=
                        scale(r) *
                        double(book[static_cast<size_t>((per_row ? r * k : 0) +
                                                        idx[static_cast<size_t>(r * cols + c)])]) *
                        x[static_cast<size_t>(c)];
                EXPECT_NEAR(clustered_dot_reference(w, r, x.data()), expect, 1e-4);
                EXPECT_NEAR(clustered_dot(w, r, x.data()), expect, 1e-4);
                std::vector<float> row(cols);
                clustered_row_to_float(w, r, row.data());
                for (int64_t c = 0; c < cols; ++c)
                    ASSERT_EQ(
                        row[static_cast<size_t>(c)],
                        scale(r) *
                            book[static_cast<size_t>((per_row ? r * k : 0) +
                                                     idx[static_cast<size_t>(r * cols + c)])]);
            }
        }
    }
}

// Logits of the clustered file against an f32 file holding the clustered values.
void expect_runs_as_its_values(const ClusterParams& params, const std::string& tag) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, false), DType::F16,
                             "csrc-" + tag + ".gguf");
    const std::string before = file_bytes(m.path);
    const std::string out = temp_path("clustered-" + tag + ".gguf");
    ClusterModelOptions options;
    options.params = params;
    options.n_threads = 2;
    const ClusterReport r = cluster_model(m.path, out, options);
    EXPECT_EQ(file_bytes(m.path), before);
    if (!params.per_row) {
        EXPECT_LT(r.size_out, r.size_in / 3);  // from f16, with 16 KiB of vocabulary
    }
    testing::TestModel expect = m;
    expect.path = temp_path("clustered-values-" + tag + ".gguf");
    {
        GgufFile in(m.path);
        for (const GgufTensor& t : in.tensors()) {
            if (t.dims.size() != 2) continue;
            std::vector<float> v(static_cast<size_t>(t.n_elements));
            type_traits(t.type).to_float(t.data, v.data(), t.n_elements);
            const ClusteredTensor c = cluster_weights(v.data(), t.dims[1], t.dims[0], params);
            std::vector<float>& dst = expect.weights.at(t.name);
            for (int64_t row = 0; row < c.rows; ++row)
                for (int64_t col = 0; col < c.cols; ++col)
                    dst[static_cast<size_t>(row * c.cols + col)] = c.value(row, col);
        }
    }
    write_test_model(expect, DType::F32, "values");
    const std::vector<TokenId> prompt = {1, 5, 9, 42, 7, 100, 3};
    Session a(Model::load(out), {0, 1, {}, {}});
    Session b(Model::load(expect.path), {0, 1, {}, {}});
    const auto la = a.eval(prompt, true);
    const auto lb = b.eval(prompt, true);
    ASSERT_EQ(la.size(), lb.size());
    for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-3) << tag << " " << i;
    // One token at a time (the decoding kernels) gives the same as the batch.
    Session d(Model::load(out), {0, 1, {}, {}});
    std::span<const float> last;
    for (TokenId t : prompt) last = d.eval(std::span<const TokenId>(&t, 1));
    const size_t vocab = 300;
    for (size_t i = 0; i < vocab; ++i)
        ASSERT_NEAR(last[i], la[la.size() - vocab + i], 1e-3) << tag << " decode " << i;
}

TEST(ClusteredModel, RunsWithTheLogitsOfItsValues) {
    expect_runs_as_its_values({.bits = 4}, "b4");
    expect_runs_as_its_values({.bits = 4, .rate = 2.5}, "b4r");
    expect_runs_as_its_values({.bits = 6, .per_row = true}, "b6row");
}

TEST(ClusteredModel, SkipAndTensorRatesApplyToTheirMatches) {
    auto m =
        make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 32, false), DType::F32, "crules.gguf");
    ClusterModelOptions o;
    o.params.rate = 2.0;
    o.skip = {"output.weight"};
    o.tensor_rates = {{"blk.*.ffn_*", 3.5}, {"blk.0.ffn_up.weight", 1.0}, {"token_embd*", 0}};
    const std::string out = temp_path("crules-out.gguf");
    const ClusterReport r = cluster_model(m.path, out, o);
    for (const TensorClusterReport& t : r.tensors) {
        EXPECT_NE(t.name, "output.weight");
        if (t.name.find("ffn_") != std::string::npos) {
            EXPECT_GT(t.entropy, 3.3) << t.name;  // the first matching rule wins
            EXPECT_LE(t.entropy, 3.5 + 1e-6) << t.name;
        } else if (t.name == "token_embd.weight") {
            EXPECT_GT(t.entropy, 3.6);  // plain k-means
        } else {
            EXPECT_LE(t.entropy, 2.0 + 1e-6) << t.name;
        }
    }
    GgufFile f(out);
    EXPECT_EQ(f.tensor("output.weight").type, DType::F32);
    Session s(Model::load(out), {0, 1, {}, {}});
    EXPECT_EQ(s.eval(std::vector<TokenId>{1, 2}).size(), 300u);
    o.tensor_rates = {{"nothing*", 3}};
    EXPECT_THROW(cluster_model(m.path, temp_path("crules-x.gguf"), o), ArgumentError);
    o.tensor_rates.clear();
    o.skip = {"nothing*"};
    EXPECT_THROW(cluster_model(m.path, temp_path("crules-x.gguf"), o), ArgumentError);
    EXPECT_THROW(parse_tensor_rate("token_embd.weight"), ArgumentError);
    EXPECT_THROW(parse_tensor_rate("x=abc"), ArgumentError);
    EXPECT_EQ(parse_tensor_rate("a=b=3.5"), (std::pair<std::string, double>{"a=b", 3.5}));
}

TEST(ClusteredModel, RefusesQuantizedInputAndDamagedFiles) {
    auto m = make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 32, false), DType::F32, "cbad.gguf");
    const std::string q = temp_path("cbad-q8.gguf");
    quantize_model(m.path, q, QuantizeOptions(DType::Q8_0));
    EXPECT_THROW(cluster_model(q, temp_path("cbad-out.gguf"), {}), ArgumentError);
    EXPECT_THROW(cluster_model(m.path, m.path, {}), ArgumentError);
    const std::string out = temp_path("cbad-c.gguf");
    cluster_model(m.path, out, {});
    EXPECT_THROW(cluster_model(out, temp_path("cbad-cc.gguf"), {}), ArgumentError);
    // Code lengths that are no prefix code (every symbol 1 bit long).
    std::string bytes = file_bytes(out);
    {
        GgufFile f(out);
        const GgufTensor& lens = f.tensor(std::string(keys::kTokenEmbd) + keys::kCodeLengthsSuffix);
        const size_t at = static_cast<size_t>(lens.data - f.raw_bytes());
        for (size_t i = 0; i < lens.bytes; ++i) bytes[at + i] = 1;
    }
    const std::string bad = temp_path("cbad-damaged.gguf");
    std::ofstream(bad, std::ios::binary) << bytes;
    try {
        Model::load(bad);
        FAIL() << "a damaged code stream loaded";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("token_embd.weight"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace edgelm
