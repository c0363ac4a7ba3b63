// The type traits and their scalar reference kernels: conversions bit-exact with
// ggml's reference code, quantization error bounds, and dot products against a float
// computation on the dequantized values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/half.h"
#include "core/quant_blocks.h"
#include "runtime/row_groups.h"

namespace edgelm {
namespace {

std::vector<float> random_floats(int n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

// Activation rows as a variant's row-group kernels read them: prepared (64-byte aligned)
// when the variant prepares them, else as given.
struct GroupActs {
    std::vector<uint8_t> storage;
    const uint8_t* data;
    size_t stride;
    GroupActs(const KernelVariant& v, int64_t n, const uint8_t* rows, size_t row_size, int count)
        : data(rows), stride(row_size) {
        if (!v.prepare_act) return;
        stride = v.prepared_bytes(n);
        storage.resize(stride * static_cast<size_t>(count) + 64);
        uint8_t* p = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
        for (int k = 0; k < count; ++k)
            v.prepare_act(n, rows + static_cast<size_t>(k) * row_size,
                          p + static_cast<size_t>(k) * stride);
        data = p;
    }
};

TEST(HalfTest, F16KnownValues) {
    EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);  // largest finite half
    EXPECT_EQ(f32_to_f16(1e6f), 0x7C00);      // overflow -> inf
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
    EXPECT_EQ(f32_to_f16(0x1.0p-24f), 0x0001);             // smallest denormal
    EXPECT_EQ(f32_to_f16(1.0f + 0x1.0p-11f), 0x3C00);      // tie rounds to even
    EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1.0p-11f), 0x3C02);  // tie rounds to even (up)
    EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
    EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
    EXPECT_EQ(f16_to_f32(0x0001), 0x1.0p-24f);
}

TEST(HalfTest, F16RoundTripOfEveryHalf) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = f16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        EXPECT_EQ(f32_to_f16(f), h) << "half 0x" << std::hex << h;
    }
}

TEST(HalfTest, Bf16RoundsToNearestEvenAndKeepsNan) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3F808000)), 0x3F80);  // tie -> even (down)
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3F818000)), 0x3F82);  // tie -> even (up)
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3F808001)), 0x3F81);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(QuantTest, Q8_0BlockMatchesGgmlReference) {
    // amax 127 -> d = 1, so values round to nearest integers (half away from zero).
    std::vector<float> x(32);
    for (int i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i) - 15.5f;
    x[31] = 127.0f;
    BlockQ8_0 b{};
    type_traits(DType::Q8_0).from_float(x.data(), &b, 32);
    EXPECT_EQ(b.d, f32_to_f16(1.0f));
    EXPECT_EQ(b.qs[0], -16);  // -15.5 rounds away from zero
    EXPECT_EQ(b.qs[15], -1);  // -0.5 -> -1
    EXPECT_EQ(b.qs[16], 1);   // 0.5 -> 1
    EXPECT_EQ(b.qs[31], 127);
}

TEST(QuantTest, Q4_0BlockMatchesGgmlReference) {
    // The value of largest magnitude is -8 -> d = 1: q = x + 8 clamped to 15.
    std::vector<float> x(32, 0.0f);
    x[0] = -8.0f;
    x[1] = 7.0f;
    x[2] = 3.4f;
    x[16] = -1.0f;
    x[17] = 7.6f;  // rounds to 16, clamped to 15
    BlockQ4_0 b{};
    type_traits(DType::Q4_0).from_float(x.data(), &b, 32);
    EXPECT_EQ(b.d, f32_to_f16(1.0f));
    EXPECT_EQ(b.qs[0], 0 | (7 << 4));    // x0 -> 0, x16 -> 7
    EXPECT_EQ(b.qs[1], 15 | (15 << 4));  // x1 -> 15, x17 -> 15 (clamped)
    EXPECT_EQ(b.qs[2], 11 | (8 << 4));   // 3.4 + 8.5 -> 11, x18 = 0 -> 8
    std::vector<float> back(32);
    type_traits(DType::Q4_0).to_float(&b, back.data(), 32);
    EXPECT_EQ(back[0], -8.0f);
    EXPECT_EQ(back[17], 7.0f);
}

class TypeTraitsTest : public ::testing::TestWithParam<DType> {};

TEST_P(TypeTraitsTest, RoundTripErrorIsWithinTheTypesStep) {
    const TypeTraits& tr = type_traits(GetParam());
    const int n = 256;
    std::vector<float> x = random_floats(n, 1);
    std::vector<uint8_t> q(static_cast<size_t>(n / tr.block_size * tr.block_bytes));
    tr.from_float(x.data(), q.data(), n);
    std::vector<float> back(static_cast<size_t>(n));
    tr.to_float(q.data(), back.data(), n);
    for (int b = 0; b < n; b += 32) {
        float amax = 0;
        for (int i = b; i < b + 32; ++i)
            amax = std::max(amax, std::fabs(x[static_cast<size_t>(i)]));
        // Worst-case error per element: half a quantization step (plus f16 scale error).
        float tol = 0;
        switch (GetParam()) {
            case DType::F32:
                tol = 0;
                break;
            case DType::F16:
                tol = amax * 0x1.0p-11f;
                break;
            case DType::BF16:
                tol = amax * 0x1.0p-8f;
                break;
            case DType::Q8_0:
                tol = amax / 127.0f * 0.51f + amax * 1e-3f;
                break;
            case DType::Q4_0:
                tol = amax / 8.0f * 1.01f + amax * 1e-3f;
                break;
            default:
                FAIL();
        }
        for (int i = b; i < b + 32; ++i)
            EXPECT_LE(std::fabs(back[static_cast<size_t>(i)] - x[static_cast<size_t>(i)]), tol)
                << tr.name << " element " << i;
    }
}

TEST_P(TypeTraitsTest, DotMatchesFloatDotOfDequantizedValues) {
    const TypeTraits& tr = type_traits(GetParam());
    const TypeTraits& at = type_traits(tr.act_type);
    for (int n : {32, 64, 288, 768}) {
        std::vector<float> w = random_floats(n, 2), x = random_floats(n, 3);
        std::vector<uint8_t> wq(static_cast<size_t>(n / tr.block_size * tr.block_bytes));
        std::vector<uint8_t> xq(static_cast<size_t>(n / at.block_size * at.block_bytes));
        tr.from_float(w.data(), wq.data(), n);
        at.from_float(x.data(), xq.data(), n);
        std::vector<float> wd(static_cast<size_t>(n)), xd(static_cast<size_t>(n));
        tr.to_float(wq.data(), wd.data(), n);
        at.to_float(xq.data(), xd.data(), n);
        double expect = 0, mag = 0;
        for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
            expect += static_cast<double>(wd[i]) * xd[i];
            mag += std::fabs(static_cast<double>(wd[i]) * xd[i]);
        }
        const float got = tr.dot(n, wq.data(), xq.data());
        EXPECT_NEAR(got, expect, 1e-5 * mag + 1e-6) << tr.name << " n=" << n;
    }
}

INSTANTIATE_TEST_SUITE_P(AllRunnableTypes, TypeTraitsTest,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0,
                                           DType::Q4_0),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

// Q6_K decoding against an element-by-element reading of ggml's layout, on random bytes.
// The Q6_K writer (ggml's reference algorithm; bit-exact with llama-quantize on a 110m
// embedding, see docs/compression.md): 6-bit levels against per-16 scales lose little,
// an all-zero block is all zero bytes, and the writer's scales are what the reader reads.
// The Q4_K writer (ggml's reference algorithm; bit-identical to llama-quantize's q4_K
// tensors on the 110m model, see docs/compression.md) and reader: the decoded values are
// d * scale_j * q - dmin * min_j as the packed 6-bit fields say, the error is that of a
// 4-bit grid, and the dot against Q8_0 activations equals the float dot of the decoded
// values.
TEST(QuantTest, Q4_KRoundTripsAndDotsAsLaidOut) {
    std::mt19937 rng(12);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(768);
    for (float& v : x) v = g(rng) + 0.3f;  // off-centre, so the mins matter
    const TypeTraits& tr = type_traits(DType::Q4_K);
    std::vector<BlockQ4_K> blocks(3);
    tr.from_float(x.data(), blocks.data(), 768);
    std::vector<float> y(768);
    tr.to_float(blocks.data(), y.data(), 768);
    double se = 0, ss = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const BlockQ4_K& b = blocks[i / 256];
        const int j = static_cast<int>(i % 256) / 32, l = static_cast<int>(i % 32);
        const int sc =
            j < 4 ? b.scales[j] & 63 : (b.scales[j + 4] & 0xF) | ((b.scales[j - 4] >> 6) << 4);
        const int m =
            j < 4 ? b.scales[j + 4] & 63 : (b.scales[j + 4] >> 4) | ((b.scales[j] >> 6) << 4);
        const uint8_t byte = b.qs[32 * (j / 2) + l];
        const int q = j % 2 ? byte >> 4 : byte & 0xF;
        EXPECT_EQ(y[i], f16_to_f32(b.d) * static_cast<float>(sc) * static_cast<float>(q) -
                            f16_to_f32(b.dmin) * static_cast<float>(m))
            << "element " << i;
        se += (x[i] - y[i]) * (x[i] - y[i]);
        ss += x[i] * x[i];
    }
    EXPECT_LT(std::sqrt(se / ss), 0.08);  // a 16-level grid per 32 weights
    const TypeTraits& q8 = type_traits(DType::Q8_0);
    std::vector<float> a(768);
    for (float& v : a) v = g(rng);
    std::vector<BlockQ8_0> aq(768 / 32);
    q8.from_float(a.data(), aq.data(), 768);
    std::vector<float> ad(768);
    q8.to_float(aq.data(), ad.data(), 768);
    double expect = 0, mag = 0;
    for (size_t i = 0; i < 768; ++i) {
        expect += static_cast<double>(y[i]) * ad[i];
        mag += std::fabs(static_cast<double>(y[i]) * ad[i]);
    }
    EXPECT_NEAR(tr.dot(768, blocks.data(), aq.data()), expect, 1e-5 * mag);
}

TEST(QuantTest, Q6_KRoundTripsWithinItsPrecision) {
    std::mt19937 rng(11);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(1024);
    for (float& v : x) v = g(rng);
    std::fill(x.begin() + 512, x.begin() + 768, 0.0f);  // the third block is all zero
    const TypeTraits& tr = type_traits(DType::Q6_K);
    ASSERT_NE(tr.from_float, nullptr);
    std::vector<BlockQ6_K> blocks(4);
    tr.from_float(x.data(), blocks.data(), 1024);
    std::vector<float> y(1024);
    tr.to_float(blocks.data(), y.data(), 1024);
    double se = 0, ss = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        se += (x[i] - y[i]) * (x[i] - y[i]);
        ss += x[i] * x[i];
    }
    // A 6-bit grid over a scale per 16 values: ~1-2 % relative RMS error on Gaussians.
    EXPECT_LT(std::sqrt(se / ss), 0.025);
    EXPECT_GT(std::sqrt(se / ss), 0.0);
    const uint8_t* zero = reinterpret_cast<const uint8_t*>(&blocks[2]);
    EXPECT_TRUE(std::all_of(zero, zero + sizeof(BlockQ6_K), [](uint8_t b) { return b == 0; }));
    for (int i = 512; i < 768; ++i) EXPECT_EQ(y[static_cast<size_t>(i)], 0.0f);
    // The largest scale of a block is stored as -128 (ggml's choice of sign).
    for (int b : {0, 1, 3}) {
        int smallest = 0;
        for (int8_t s : blocks[static_cast<size_t>(b)].scales)
            smallest = std::min<int>(smallest, s);
        EXPECT_EQ(smallest, -128) << "block " << b;
    }
}

TEST(QuantTest, Q6_KDecodesEveryElementAsLaidOut) {
    std::mt19937 rng(5);
    std::vector<BlockQ6_K> blocks(2);
    for (auto& b : blocks) {
        for (auto& v : b.ql) v = static_cast<uint8_t>(rng());
        for (auto& v : b.qh) v = static_cast<uint8_t>(rng());
        for (auto& v : b.scales) v = static_cast<int8_t>(rng());
        b.d = f32_to_f16(0.01f + static_cast<float>(rng() % 100) * 1e-4f);
    }
    const TypeTraits& tr = type_traits(DType::Q6_K);
    std::vector<float> y(512);
    tr.to_float(blocks.data(), y.data(), 512);
    for (int j = 0; j < 512; ++j) {
        const BlockQ6_K& b = blocks[static_cast<size_t>(j / 256)];
        const int e = j % 256, half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        const uint8_t lo_byte = b.ql[half * 64 + l + (quarter & 1) * 32];
        const int lo = quarter >= 2 ? lo_byte >> 4 : lo_byte & 0x0F;
        const int hi = (b.qh[half * 32 + l] >> (2 * quarter)) & 3;
        const int scale = b.scales[half * 8 + l / 16 + 2 * quarter];
        const float expect =
            f16_to_f32(b.d) * static_cast<float>(scale) * static_cast<float>((lo | (hi << 4)) - 32);
        ASSERT_EQ(y[static_cast<size_t>(j)], expect) << "element " << j;
    }
    // The dot runs against Q8_0 activations: compare with the float dot of both sides'
    // dequantized values.
    ASSERT_EQ(tr.act_type, DType::Q8_0);
    std::vector<float> x = random_floats(512, 8);
    std::vector<uint8_t> xq(16 * sizeof(BlockQ8_0));
    type_traits(DType::Q8_0).from_float(x.data(), xq.data(), 512);
    type_traits(DType::Q8_0).to_float(xq.data(), x.data(), 512);
    double expect = 0, mag = 0;
    for (size_t i = 0; i < 512; ++i) {
        expect += static_cast<double>(y[i]) * x[i];
        mag += std::fabs(static_cast<double>(y[i]) * x[i]);
    }
    for (const KernelVariant& v : kernel_variants(DType::Q6_K))
        EXPECT_NEAR(v.dot(512, blocks.data(), xq.data()), expect, 1e-5 * mag) << v.isa;
}

// Every SIMD variant compiled in and supported here against the scalar reference:
// conversions bit-exact (quantized files and activations must not depend on the CPU),
// dot products within float rounding of the scalar sum.
TEST(KernelVariantsTest, EverySimdVariantMatchesScalar) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                    DType::Q6_K}) {
        const bool k_quant = t == DType::Q4_K || t == DType::Q6_K;
        const std::vector<KernelVariant> variants = kernel_variants(t);
        ASSERT_FALSE(variants.empty());
        const KernelVariant& ref = variants.front();
        ASSERT_STREQ(ref.isa, "scalar");
        // Every SIMD variant this CPU supports must be registered, or it goes untested.
        std::vector<std::string> isas;
        for (const auto& v : variants) isas.emplace_back(v.isa);
        auto has = [&](const char* isa) {
            return std::find(isas.begin(), isas.end(), isa) != isas.end();
        };
        if (!k_quant && cpu_features().neon) {
            EXPECT_TRUE(has("neon")) << dtype_name(t);
        }
        if ((t == DType::Q8_0 || t == DType::Q4_0) && cpu_features().neon_dotprod) {
            EXPECT_TRUE(has("neon-dotprod")) << dtype_name(t);
        }
        if (cpu_features().avx2_fma_f16c) {
            EXPECT_GE(variants.size(), 2u) << dtype_name(t) << ": the AVX2 variant is missing";
            if (t != DType::BF16 && !k_quant) {
                EXPECT_NE(variants.back().dot4, nullptr) << dtype_name(t);
            }
        }
        if (cpu_features().avx512_vnni &&
            (t == DType::F32 || t == DType::F16 || t == DType::Q8_0 || t == DType::Q4_0)) {
            EXPECT_TRUE(has("avx512")) << dtype_name(t);
        }
        const TypeTraits& tr = type_traits(t);
        const TypeTraits& at = type_traits(tr.act_type);
        for (size_t vi = 1; vi < variants.size(); ++vi) {
            const KernelVariant& v = variants[vi];
            // Block types need multiples of their block; float types also odd tails.
            std::vector<int> sizes = {256, 512, 768, 2048 + 256};
            if (tr.block_size == 1) sizes.insert(sizes.end(), {1, 7, 15, 17, 33, 70});
            for (int n : sizes) {
                std::vector<float> w = random_floats(n, static_cast<uint32_t>(n), 0.7f);
                if (n > 3) w[3] = 0.0f;  // a zero weight in every block type's first block
                std::vector<uint8_t> wq(static_cast<size_t>(n / tr.block_size * tr.block_bytes));
                if (ref.from_float) {
                    std::vector<uint8_t> wq2(wq.size());
                    ref.from_float(w.data(), wq.data(), n);
                    v.from_float(w.data(), wq2.data(), n);
                    ASSERT_EQ(wq, wq2) << v.isa << " " << tr.name << " from_float n=" << n;
                } else {
                    std::mt19937 rng(static_cast<uint32_t>(n));
                    for (auto& byte : wq)
                        byte = static_cast<uint8_t>(rng() & 0x3F);  // small scales
                }
                std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
                ref.to_float(wq.data(), a.data(), n);
                v.to_float(wq.data(), b.data(), n);
                ASSERT_EQ(a, b) << v.isa << " " << tr.name << " to_float n=" << n;
                std::vector<float> x = random_floats(n, 99);
                std::vector<uint8_t> xq(static_cast<size_t>(n / at.block_size * at.block_bytes));
                kernel_variants(tr.act_type).front().from_float(x.data(), xq.data(), n);
                double mag = 0;
                for (int i = 0; i < n; ++i)
                    mag += std::fabs(static_cast<double>(a[static_cast<size_t>(i)]) *
                                     x[static_cast<size_t>(i)]);
                EXPECT_NEAR(v.dot(n, wq.data(), xq.data()), ref.dot(n, wq.data(), xq.data()),
                            1e-5 * mag + 1e-6)
                    << v.isa << " " << tr.name << " dot n=" << n;
                if (v.rows4) {
                    // Four weight rows: wq and three more encoded from shifted values.
                    const size_t row_bytes = wq.size();
                    std::vector<uint8_t> w4(4 * row_bytes);
                    for (int k = 0; k < 4; ++k) {
                        std::vector<float> wk =
                            random_floats(n, 200 + static_cast<uint32_t>(k), 0.7f);
                        if (ref.from_float)
                            ref.from_float(wk.data(), w4.data() + k * row_bytes, n);
                        else
                            std::copy(wq.begin(), wq.end(),
                                      w4.begin() + static_cast<long>(k * row_bytes));
                    }
                    float four[4];
                    v.rows4(n, w4.data(), row_bytes, xq.data(), four);
                    for (int k = 0; k < 4; ++k)
                        EXPECT_EQ(four[k], v.dot(n, w4.data() + k * row_bytes, xq.data()))
                            << v.isa << " " << tr.name << " rows4[" << k << "] vs dot, n=" << n;
                }
                if (v.group4 && n % row_group_unit(tr) == 0) {
                    // Four rows (wq and three shifted encodings) repacked into one group
                    // by row_groups.h, plus one plain tail row; group4 and read_row must
                    // give back each row's own dot product, bit for bit.
                    const size_t row_bytes = wq.size();
                    std::vector<uint8_t> plain(5 * row_bytes);
                    for (int k = 0; k < 5; ++k) {
                        std::vector<float> wk =
                            random_floats(n, 300 + static_cast<uint32_t>(k), 0.7f);
                        ref.from_float(wk.data(), plain.data() + k * row_bytes, n);
                    }
                    TypeTraits traits = tr;
                    traits.group4 = v.group4;
                    WeightMatrix m;
                    m.traits = &traits;
                    m.rows = 5;
                    m.cols = n;
                    m.row_bytes = row_bytes;
                    m.data = plain.data();
                    ASSERT_TRUE(can_group_rows(m));
                    std::vector<uint8_t> bytes(matrix_bytes(m));
                    const WeightMatrix g = group_rows(m, bytes.data());
                    ASSERT_EQ(g.grouped_rows, 4);
                    float four[4];
                    v.group4(n, g.group(0), GroupActs(v, n, xq.data(), xq.size(), 1).data, four);
                    // Two activation rows: xq and an encoding of other values.
                    std::vector<uint8_t> x2(xq);
                    std::vector<float> xb = random_floats(n, 77);
                    x2.resize(2 * xq.size());
                    kernel_variants(tr.act_type)
                        .front()
                        .from_float(xb.data(), x2.data() + xq.size(), n);
                    float eight[8];
                    ASSERT_NE(v.group4x2, nullptr) << tr.name;
                    const GroupActs a2(v, n, x2.data(), xq.size(), 2);
                    v.group4x2(n, g.group(0), a2.data, a2.stride, eight, 4);
                    if (v.group4x4) {
                        // Four activation rows (xq, the other, xq, the other): each token's
                        // outputs equal the pair kernel's.
                        std::vector<uint8_t> x4(x2);
                        x4.insert(x4.end(), x2.begin(), x2.end());
                        float sixteen[16];
                        const GroupActs a4(v, n, x4.data(), xq.size(), 4);
                        v.group4x4(n, g.group(0), a4.data, a4.stride, sixteen, 4);
                        for (int k = 0; k < 16; ++k)
                            EXPECT_EQ(sixteen[k], eight[k % 8])
                                << v.isa << " " << tr.name << " group4x4[" << k / 4 << "][" << k % 4
                                << "], n=" << n;
                    }
                    std::vector<uint8_t> back(row_bytes);
                    for (int k = 0; k < 5; ++k) {
                        const uint8_t* pk = plain.data() + k * row_bytes;
                        read_row(g, k, back.data());
                        EXPECT_TRUE(std::equal(back.begin(), back.end(), pk))
                            << tr.name << " read_row " << k << ", n=" << n;
                        if (k < 4) {
                            EXPECT_EQ(four[k], v.dot(n, pk, xq.data()))
                                << v.isa << " " << tr.name << " group4[" << k << "], n=" << n;
                            EXPECT_EQ(eight[k], four[k])
                                << v.isa << " " << tr.name << " group4x2[0][" << k << "]";
                            EXPECT_EQ(eight[4 + k], v.dot(n, pk, x2.data() + xq.size()))
                                << v.isa << " " << tr.name << " group4x2[1][" << k << "]";
                        }
                    }
                }
                if (v.tile2x4) {
                    // Two weight rows (wq twice) by four activation rows (xq four times).
                    std::vector<uint8_t> w2(wq), x4;
                    w2.insert(w2.end(), wq.begin(), wq.end());
                    for (int k = 0; k < 4; ++k) x4.insert(x4.end(), xq.begin(), xq.end());
                    float out8[8];
                    v.tile2x4(n, w2.data(), wq.size(), x4.data(), xq.size(), out8, 2);
                    const float single = v.dot(n, wq.data(), xq.data());
                    for (float o : out8)
                        EXPECT_EQ(o, single) << v.isa << " " << tr.name << " tile2x4 n=" << n;
                }
                if (v.dot4) {
                    // Four activation rows, each quantized by the scalar reference.
                    const size_t stride = xq.size();
                    std::vector<uint8_t> x4(4 * stride);
                    for (int k = 0; k < 4; ++k) {
                        std::vector<float> xk = random_floats(n, 100 + static_cast<uint32_t>(k));
                        kernel_variants(tr.act_type)
                            .front()
                            .from_float(xk.data(), x4.data() + k * stride, n);
                    }
                    float four[4];
                    v.dot4(n, wq.data(), x4.data(), stride, four);
                    for (int k = 0; k < 4; ++k) {
                        EXPECT_NEAR(four[k], ref.dot(n, wq.data(), x4.data() + k * stride),
                                    1e-5 * mag + 1e-5)
                            << v.isa << " " << tr.name << " dot4[" << k << "] n=" << n;
                        // Bit-identical to the same variant's single-row dot: a token's
                        // logits must not depend on how the prompt was batched.
                        EXPECT_EQ(four[k], v.dot(n, wq.data(), x4.data() + k * stride))
                            << v.isa << " " << tr.name << " dot4[" << k << "] vs dot, n=" << n;
                    }
                }
            }
        }
    }
}

// The activation quantizer on values that sit exactly at and next to rounding ties.
TEST(KernelVariantsTest, Q8_0QuantizerTiesMatchScalar) {
    std::vector<float> x(64);
    for (int i = 0; i < 64; ++i) x[static_cast<size_t>(i)] = (static_cast<float>(i) - 31.5f) * 0.5f;
    x[0] = 127.0f;
    x[1] = 0.49999997f;
    x[2] = -0.49999997f;
    x[32] = -127.0f;
    const auto variants = kernel_variants(DType::Q8_0);
    std::vector<uint8_t> ref(68), got(68);
    variants.front().from_float(x.data(), ref.data(), 64);
    for (const auto& v : variants) {
        v.from_float(x.data(), got.data(), 64);
        EXPECT_EQ(ref, got) << v.isa;
    }
}

TEST(DTypeTest, StorageTableAndNames) {
    EXPECT_EQ(storage_info(14)->block_bytes, 210u);  // q6_K
    EXPECT_EQ(storage_info(12)->block_size, 256);    // q4_K
    EXPECT_FALSE(storage_info(4).has_value());       // removed Q4_2
    EXPECT_FALSE(storage_info(39).has_value());
    EXPECT_EQ(runnable_dtype_from_name("Q8_0"), DType::Q8_0);
    EXPECT_EQ(runnable_dtype_from_name("q4_k"), DType::Q4_K);
    EXPECT_FALSE(runnable_dtype_from_name("q5_k").has_value());  // stored, not runnable
    EXPECT_EQ(find_type_traits(DType::Q5_K), nullptr);
    EXPECT_EQ(runnable_dtype_from_name("q6_k"), DType::Q6_K);  // ggml spells it q6_K
    EXPECT_EQ(runnable_dtype_from_name("Q6_K"), DType::Q6_K);
    EXPECT_EQ(*row_bytes(DType::Q4_0, 64), 36u);
    EXPECT_FALSE(row_bytes(DType::Q4_0, 48).has_value());
}

}  // namespace
}  // namespace edgelm
