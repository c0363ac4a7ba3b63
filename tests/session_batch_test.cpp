// Session::eval_batch: several sessions run as one batch (a server's slots decoding
// together, with a chunk of a new prompt beside them) give every session exactly the
// logits it gets alone, with its own adapters, and bad batches are refused before any runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "runtime/lora_adapter.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

std::vector<TokenId> some_tokens(int n, int vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<TokenId> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<TokenId>(rng() % static_cast<uint32_t>(vocab));
    return t;
}

std::shared_ptr<const LoraAdapter> write_adapter(const ModelConfig& c, const std::string& name,
                                                 uint32_t seed, std::vector<LoraTarget> targets) {
    const auto matrices = testing::random_lora(c, 4, seed, targets);
    const std::string path = temp_path(name);
    write_lora_adapter(path, c, 8.0f, matrices);
    return LoraAdapter::load(path, c);
}

struct Request {
    std::vector<TokenId> prompt;
    std::vector<LoraBinding> lora;
};

// Greedy decoding of `steps` tokens: the logits before every sampled token.
std::vector<std::vector<float>> alone(std::shared_ptr<const Model> model, const Request& r,
                                      int steps) {
    SessionParams p;
    p.sampler.temperature = 0;
    p.lora = r.lora;
    Session s(model, p);
    std::vector<std::vector<float>> out;
    auto l = s.eval(r.prompt);
    for (int i = 0; i < steps; ++i) {
        out.emplace_back(l.begin(), l.end());
        const TokenId t = s.sample();
        l = s.eval(std::span<const TokenId>(&t, 1));
    }
    return out;
}

TEST(SessionBatchTest, SessionsDecodedTogetherEqualEachAlone) {
    for (DType type : {DType::F32, DType::Q4_0, DType::Q8_0}) {
        auto m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 64, false), type, "batch.gguf");
        auto model = Model::load(m.path);
        const ModelConfig& c = model->config();
        std::vector<Request> requests = {
            {some_tokens(9, 300, 1), {}},
            {some_tokens(4, 300, 2),
             {{write_adapter(c, "qv.gguf", 3, {LoraTarget::Q, LoraTarget::V}), 0.5f}}},
            {some_tokens(13, 300, 4),
             {{write_adapter(c, "ffn.gguf", 5,
                             {LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down}),
               1.0f}}},
        };
        constexpr int kSteps = 10;
        std::vector<std::vector<std::vector<float>>> expected;
        for (const Request& r : requests) expected.push_back(alone(model, r, kSteps));

        // Together: prompts arrive one step apart and run in chunks of 3 tokens beside the
        // others' decoding, on an engine session whose own context is unused.
        SessionParams engine_params;
        engine_params.n_ctx = 1;
        engine_params.n_threads = 2;
        Session engine(model, engine_params);
        std::vector<std::unique_ptr<Session>> slots;
        for (const Request& r : requests) {
            SessionParams p;
            p.sampler.temperature = 0;
            p.lora = r.lora;
            slots.push_back(std::make_unique<Session>(model, p));
        }
        std::vector<size_t> fed(requests.size(), 0);
        std::vector<TokenId> next(requests.size(), -1);
        std::vector<std::vector<std::vector<float>>> got(requests.size());
        for (int step = 0; step < 40; ++step) {
            std::vector<BatchPart> parts;
            for (size_t i = 0; i < requests.size(); ++i) {
                if (static_cast<int>(i) > step || got[i].size() == kSteps) continue;
                const auto& prompt = requests[i].prompt;
                if (fed[i] < prompt.size()) {
                    const size_t n = std::min<size_t>(3, prompt.size() - fed[i]);
                    parts.push_back({slots[i].get(), std::span(prompt).subspan(fed[i], n)});
                    fed[i] += n;
                } else {
                    parts.push_back({slots[i].get(), std::span<const TokenId>(&next[i], 1)});
                }
            }
            if (parts.empty()) break;
            engine.eval_batch(parts);
            for (size_t i = 0; i < requests.size(); ++i) {
                const bool ran = std::any_of(parts.begin(), parts.end(), [&](const BatchPart& p) {
                    return p.session == slots[i].get();
                });
                if (!ran || fed[i] < requests[i].prompt.size()) continue;
                const auto l = slots[i]->last_logits();
                got[i].emplace_back(l.begin(), l.end());
                next[i] = slots[i]->sample();
            }
        }
        for (size_t i = 0; i < requests.size(); ++i) {
            ASSERT_EQ(got[i].size(), expected[i].size()) << "request " << i;
            for (size_t s = 0; s < got[i].size(); ++s)
                ASSERT_EQ(got[i][s], expected[i][s])
                    << dtype_name(type) << " request " << i << " step " << s;
        }
        std::filesystem::remove(m.path);
    }
}

TEST(SessionBatchTest, PooledStatesEqualEvalPooled) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 64, true), DType::Q8_0, "pool.gguf");
    auto model = Model::load(m.path);
    const auto a = some_tokens(7, 300, 8), b = some_tokens(5, 300, 9);
    Session solo_a(model, {}), solo_b(model, {});
    const auto pa = solo_a.eval_pooled(a);
    const std::vector<float> ref_a(pa.begin(), pa.end());
    const auto pb = solo_b.eval_pooled(b);
    const std::vector<float> ref_b(pb.begin(), pb.end());

    Session engine(model, {}), sa(model, {}), sb(model, {});
    std::vector<float> sum_a(64, 0.0f), sum_b(64, 0.0f);
    const std::vector<BatchPart> parts = {{&sa, a, false, sum_a.data()},
                                          {&sb, b, false, sum_b.data()}};
    engine.eval_batch(parts);
    // The mean as eval_pooled takes it: times the reciprocal of the count.
    for (float& v : sum_a) v *= 1.0f / static_cast<float>(a.size());
    for (float& v : sum_b) v *= 1.0f / static_cast<float>(b.size());
    EXPECT_EQ(sum_a, ref_a);
    EXPECT_EQ(sum_b, ref_b);
    EXPECT_EQ(sa.position(), 7);
    std::filesystem::remove(m.path);
}

TEST(SessionBatchTest, RefusesBadBatchesBeforeRunningAny) {
    auto m = make_test_model(tiny_config(64, 1, 4, 2, 96, 300, 16, true), DType::F32, "bad.gguf");
    auto model = Model::load(m.path);
    auto other = Model::load(m.path);
    Session engine(model, {}), a(model, {}), b(other, {});
    const auto tokens = some_tokens(4, 300, 1);
    const auto too_long = some_tokens(17, 300, 2);
    const TokenId out_of_range = 300;
    EXPECT_THROW(engine.eval_batch(std::vector<BatchPart>{{&a, tokens}, {&a, tokens}}),
                 ArgumentError);
    EXPECT_THROW(engine.eval_batch(std::vector<BatchPart>{{&a, tokens}, {&b, tokens}}),
                 ArgumentError);
    EXPECT_THROW(engine.eval_batch(std::vector<BatchPart>{{&a, too_long}}), ArgumentError);
    EXPECT_THROW(engine.eval_batch(std::vector<BatchPart>{{&a, tokens}, {nullptr, tokens}}),
                 ArgumentError);
    EXPECT_THROW(
        engine.eval_batch(std::vector<BatchPart>{{&a, std::span<const TokenId>(&out_of_range, 1)}}),
        ArgumentError);
    EXPECT_EQ(a.position(), 0);  // nothing ran
    std::filesystem::remove(m.path);
}

}  // namespace
}  // namespace edgelm
