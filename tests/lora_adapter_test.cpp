// LoRA adapters in the runtime: applied on top of the weights they give the logits of the
// merged weights (prompt batches and token-by-token decoding), switch live in a session,
// and bad adapters are refused with the file and tensor named.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "runtime/lora_adapter.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

std::map<std::pair<int, LoraTarget>, LoraMatrix> random_adapter(const ModelConfig& c, int rank,
                                                                uint32_t seed,
                                                                std::vector<LoraTarget> targets) {
    return testing::random_lora(c, rank, seed, targets);
}

std::vector<float> logits(const std::string& model, std::vector<LoraBinding> lora,
                          const std::vector<TokenId>& prompt) {
    Session s(Model::load(model), {0, 1, {}, std::move(lora)});
    const auto l = s.eval(prompt, true);
    return {l.begin(), l.end()};
}

TEST(LoraAdapter, AppliedEqualsMergedAndSwitchesLive) {
    auto m =
        make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, false), DType::F32, "lora-base.gguf");
    const std::string a_path = temp_path("lora-a.gguf"), b_path = temp_path("lora-b.gguf");
    write_lora_adapter(
        a_path, m.config, 16.0f,
        random_adapter(m.config, 4, 1,
                       {LoraTarget::Q, LoraTarget::V, LoraTarget::Gate, LoraTarget::Down}));
    write_lora_adapter(
        b_path, m.config, 8.0f,
        random_adapter(m.config, 2, 2, {LoraTarget::K, LoraTarget::O, LoraTarget::Up}));
    const auto a = LoraAdapter::load(a_path, m.config);
    const auto b = LoraAdapter::load(b_path, m.config);
    EXPECT_EQ(a->rank(), 4);
    EXPECT_EQ(a->alpha(), 16.0f);
    {
        GgufFile f(a_path);  // llama.cpp's layout
        EXPECT_EQ(f.get_string(keys::kGeneralType), "adapter");
        EXPECT_EQ(f.get_string(keys::kAdapterType), "lora");
        const GgufTensor& la = f.tensor("blk.1.attn_q.weight.lora_a");
        EXPECT_EQ(la.dims, (std::vector<int64_t>{64, 4}));
        EXPECT_EQ(f.tensor("blk.1.attn_q.weight.lora_b").dims, (std::vector<int64_t>{4, 64}));
    }
    const std::vector<LoraBinding> both = {{a, 0.5f}, {b, 1.0f}};
    const std::string merged = temp_path("lora-merged.gguf");
    merge_lora(m.path, merged, both);
    const std::vector<TokenId> prompt = {1, 5, 9, 42, 7, 100, 3};
    const std::vector<float> applied = logits(m.path, both, prompt);
    const std::vector<float> baked = logits(merged, {}, prompt);
    const std::vector<float> base = logits(m.path, {}, prompt);
    ASSERT_EQ(applied.size(), baked.size());
    double moved = 0;
    for (size_t i = 0; i < applied.size(); ++i) {
        ASSERT_NEAR(applied[i], baked[i], 1e-3) << i;
        moved = std::max(moved, double(std::abs(applied[i] - base[i])));
    }
    EXPECT_GT(moved, 0.05);  // the adapters do change the model

    // Token by token, then switched off in the same session without reloading.
    Session s(Model::load(m.path), {0, 1, {}, both});
    std::span<const float> last;
    for (TokenId t : prompt) last = s.eval(std::span<const TokenId>(&t, 1));
    for (size_t i = 0; i < 300; ++i) ASSERT_NEAR(last[i], applied[applied.size() - 300 + i], 1e-3);
    s.reset();
    s.set_lora({});
    const auto off = s.eval(prompt, true);
    for (size_t i = 0; i < off.size(); ++i) ASSERT_NEAR(off[i], base[i], 1e-5);
    // Scale 0 is the base model.
    const std::vector<float> zero = logits(m.path, {{a, 0.0f}}, prompt);
    for (size_t i = 0; i < zero.size(); ++i) ASSERT_NEAR(zero[i], base[i], 1e-5);
}

TEST(LoraAdapter, SavedStatesRememberTheAdapters) {
    auto m = make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 32, false), DType::F32,
                             "lora-state.gguf");
    const std::string a_path = temp_path("lora-state-a.gguf"), state = temp_path("lora.state");
    write_lora_adapter(a_path, m.config, 8.0f, random_adapter(m.config, 2, 6, {LoraTarget::Q}));
    const auto model = Model::load(m.path);
    const std::vector<LoraBinding> adapters = {{LoraAdapter::load(a_path, m.config), 1.0f}};
    Session a(model, {0, 1, {}, adapters});
    a.eval(std::vector<TokenId>{1, 2, 3});
    a.save_state(state);
    Session same(model, {0, 1, {}, adapters});
    same.load_state(state);
    EXPECT_EQ(same.tokens(), a.tokens());
    for (const std::vector<LoraBinding>& other :
         {std::vector<LoraBinding>{}, std::vector<LoraBinding>{{adapters[0].adapter, 0.5f}}}) {
        Session b(model, {0, 1, {}, other});
        try {
            b.load_state(state);
            FAIL() << "a state saved with other adapters loaded";
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find("LoRA"), std::string::npos) << e.what();
        }
    }
}

TEST(LoraAdapter, MergesIntoAQuantizedBase) {
    auto m =
        make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 32, true), DType::Q8_0, "lora-q8.gguf");
    const std::string a_path = temp_path("lora-q8-a.gguf"), out = temp_path("lora-q8-out.gguf");
    write_lora_adapter(a_path, m.config, 4.0f, random_adapter(m.config, 2, 3, {LoraTarget::Q}));
    merge_lora(m.path, out, {{LoraAdapter::load(a_path, m.config), 1.0f}});
    GgufFile f(out);
    EXPECT_EQ(f.tensor("blk.0.attn_q.weight").type, DType::Q8_0);
    Session s(Model::load(out), {0, 1, {}, {}});
    EXPECT_EQ(s.eval(std::vector<TokenId>{1, 2}).size(), 300u);
}

TEST(LoraAdapter, RefusesAdaptersThatDoNotFit) {
    auto m =
        make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, false), DType::F32, "lora-fit.gguf");
    const ModelConfig other = tiny_config(32, 2, 4, 2, 96, 300, 32, false);
    const std::string wrong = temp_path("lora-wrong.gguf");
    write_lora_adapter(wrong, other, 8.0f, random_adapter(other, 2, 4, {LoraTarget::Q}));
    try {
        LoraAdapter::load(wrong, m.config);
        FAIL() << "an adapter for another shape loaded";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
    }
    EXPECT_THROW(LoraAdapter::load(m.path, m.config), FormatError);  // a model, not an adapter
    const ModelConfig deeper = tiny_config(64, 3, 4, 2, 96, 300, 32, false);
    const std::string deep = temp_path("lora-deep.gguf");
    write_lora_adapter(deep, deeper, 8.0f, random_adapter(deeper, 2, 5, {LoraTarget::V}));
    EXPECT_THROW(LoraAdapter::load(deep, m.config), FormatError);  // blk.2 does not exist
    EXPECT_EQ(parse_lora_argument("a.gguf:0.5"), (std::pair<std::string, float>{"a.gguf", 0.5f}));
    EXPECT_EQ(parse_lora_argument("a.gguf"), (std::pair<std::string, float>{"a.gguf", 1.0f}));
    EXPECT_THROW(parse_lora_argument("a.gguf:x"), ArgumentError);
    EXPECT_THROW(merge_lora(m.path, m.path, {}), ArgumentError);
}

}  // namespace
}  // namespace edgelm
