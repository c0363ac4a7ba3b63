// Quantization-aware training's rounding: the forward value is exactly what the runtime's
// quantizer stores and decodes, and the gradient passes straight through.
#include <gtest/gtest.h>

#include "runtime/model_writer.h"
#include "train/fake_quant.h"

namespace edgelm::train {
namespace {

TEST(FakeQuant, ForwardEqualsTheRuntimesRoundTripAndGradientPassesThrough) {
    torch::manual_seed(3);
    torch::Tensor w = torch::randn({24, 96}) * 0.05;
    // Awkward blocks: a zero block, ties of magnitude, values at the rounding boundaries.
    w.index_put_({0}, torch::zeros({96}));
    w.index_put_({1, 0}, 0.4f);
    w.index_put_({1, 1}, -0.4f);
    w.index_put_({2, torch::indexing::Slice(0, 32)}, torch::arange(32).to(torch::kFloat) * 0.125f);
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
        torch::Tensor p = w.clone().set_requires_grad(true);
        const torch::Tensor fq = fake_quantize(p, type);
        const std::vector<uint8_t> bytes = encode_tensor(w.data_ptr<float>(), w.numel(), type);
        std::vector<float> back(static_cast<size_t>(w.numel()));
        type_traits(type).to_float(bytes.data(), back.data(), w.numel());
        const torch::Tensor f = fq.detach().contiguous();
        // Equal values (a zero's sign may differ: -0 == 0).
        for (size_t i = 0; i < back.size(); ++i)
            ASSERT_EQ(f.data_ptr<float>()[i], back[i])
                << dtype_name(type) << " element " << i << " of " << w.data_ptr<float>()[i];
        const torch::Tensor g = torch::randn({24, 96});
        (fq * g).sum().backward();
        EXPECT_TRUE(torch::equal(p.grad(), g)) << dtype_name(type);
    }
    // Rows that do not divide into blocks, and unsupported types, pass unchanged.
    const torch::Tensor odd = torch::randn({4, 40});
    EXPECT_TRUE(torch::equal(fake_quantize(odd, DType::Q4_0), odd));
    EXPECT_TRUE(torch::equal(fake_quantize(w, DType::F16), w));
    EXPECT_FALSE(qat_supports(DType::Q6_K));
}

// Q4_K: whole 256-blocks round as the runtime's Q4_K; other rows as the exporter's fallback
// (Q4_0), so the forward pass always sees the weights the exported file will hold.
TEST(FakeQuant, Q4KRoundsAsTheExporterStoresEachMatrix) {
    torch::manual_seed(5);
    for (const int64_t cols : {int64_t{512}, int64_t{96}}) {
        const torch::Tensor w = torch::randn({6, cols}) * 0.05;
        torch::Tensor p = w.clone().set_requires_grad(true);
        const torch::Tensor fq = fake_quantize(p, DType::Q4_K);
        const DType stored = storage_type_for({cols, 6}, DType::Q4_K);
        EXPECT_EQ(stored, cols == 512 ? DType::Q4_K : DType::Q4_0);
        const std::vector<uint8_t> bytes = encode_tensor(w.data_ptr<float>(), w.numel(), stored);
        std::vector<float> back(static_cast<size_t>(w.numel()));
        type_traits(stored).to_float(bytes.data(), back.data(), w.numel());
        const torch::Tensor f = fq.detach().contiguous();
        for (size_t i = 0; i < back.size(); ++i)
            ASSERT_EQ(f.data_ptr<float>()[i], back[i]) << cols << " element " << i;
        const torch::Tensor g = torch::randn({6, cols});
        (fq * g).sum().backward();
        EXPECT_TRUE(torch::equal(p.grad(), g));
    }
}

}  // namespace
}  // namespace edgelm::train
