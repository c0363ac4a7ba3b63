// The serving engine: a greedy request gives the same tokens alone, batched with others and
// from a slot's cached prefix; the queue is bounded; a cancelled job frees its slot; pooled
// states equal Session::eval_pooled.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "serve/engine.h"
#include "test_models.h"

namespace edgelm::serve {
namespace {

using namespace std::chrono_literals;
using edgelm::testing::make_test_model;
using edgelm::testing::tiny_config;

std::vector<TokenId> some_tokens(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<TokenId> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<TokenId>(3 + rng() % 290);  // no BOS/EOS
    return t;
}

std::shared_ptr<Job> greedy_job(std::vector<TokenId> prompt, int max_tokens) {
    auto job = std::make_shared<Job>();
    job->prompt = std::move(prompt);
    job->max_tokens = max_tokens;
    job->sampler.temperature = 0;
    return job;
}

// Waits (bounded) for the job to end; returns its tokens.
std::vector<TokenId> collect(Job& job) {
    std::vector<SampledToken> out;
    const auto until = Clock::now() + 30s;
    while (job.wait(out, 50ms) == FinishReason::None && Clock::now() < until) {
    }
    std::vector<TokenId> ids;
    for (const auto& t : out) ids.push_back(t.id);
    return ids;
}

std::vector<TokenId> alone(std::shared_ptr<const Model> model, const std::vector<TokenId>& prompt,
                           int n) {
    SessionParams p;
    p.sampler.temperature = 0;
    Session s(model, p);
    s.eval(prompt);
    std::vector<TokenId> out;
    for (int i = 0; i < n; ++i) {
        const TokenId t = s.sample();
        if (t == model->tokenizer().vocab().eos) break;
        out.push_back(t);
        s.eval(std::span<const TokenId>(&t, 1));
    }
    return out;
}

struct EngineTest : ::testing::Test {
    void SetUp() override {
        m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 128, false), DType::Q8_0,
                            "engine.gguf", 5, 0.3f);
        model = Model::load(m.path);
    }
    void TearDown() override { std::filesystem::remove(m.path); }
    edgelm::testing::TestModel m;
    std::shared_ptr<const Model> model;
};

TEST_F(EngineTest, GreedyTokensAreTheSameAloneBatchedAndFromTheCache) {
    Engine engine(model, {.slots = 4, .ctx = 128, .queue = 4, .threads = 2, .prefill_chunk = 5});
    const auto prompt = some_tokens(23, 1);
    const auto expected = alone(model, prompt, 20);
    ASSERT_FALSE(expected.empty());

    auto first = greedy_job(prompt, 20);
    ASSERT_TRUE(engine.submit(first));
    EXPECT_EQ(collect(*first), expected);
    EXPECT_EQ(first->finish_reason(), FinishReason::Length);

    // Beside three others, with prompts arriving while it decodes (chunked prefill).
    std::vector<std::shared_ptr<Job>> jobs = {greedy_job(prompt, 20)};
    for (uint32_t seed : {2u, 3u, 4u})
        jobs.push_back(greedy_job(some_tokens(9 + 7 * static_cast<int>(seed), seed), 15));
    for (auto& j : jobs) ASSERT_TRUE(engine.submit(j));
    EXPECT_EQ(collect(*jobs[0]), expected);
    for (size_t i = 1; i < jobs.size(); ++i)
        EXPECT_EQ(collect(*jobs[i]), alone(model, jobs[i]->prompt, 15));

    // The same prompt again starts from a slot that holds it.
    auto again = greedy_job(prompt, 20);
    ASSERT_TRUE(engine.submit(again));
    EXPECT_EQ(collect(*again), expected);
    EXPECT_EQ(again->cached_tokens, static_cast<int>(prompt.size()) - 1);
    EXPECT_GE(engine.prefix_hit_tokens(), prompt.size() - 1);
}

TEST_F(EngineTest, SavedPrefixesOutliveTheirSlot) {
    Engine engine(model, {.slots = 1,
                          .ctx = 128,
                          .queue = 1,
                          .threads = 1,
                          .prefix_cache_bytes = 1 << 20,
                          .min_saved_prefix = 4});
    const auto a = some_tokens(20, 11), b = some_tokens(15, 12);
    const auto expected = alone(model, a, 8);
    for (const auto& prompt : {a, b}) {
        auto job = greedy_job(prompt, 8);
        ASSERT_TRUE(engine.submit(job));
        collect(*job);
    }
    EXPECT_GT(engine.saved_prefix_bytes(), 0u);  // a's keys and values, saved when b took the slot
    auto again = greedy_job(a, 8);
    ASSERT_TRUE(engine.submit(again));
    EXPECT_EQ(collect(*again), expected);
    EXPECT_TRUE(again->restored_prefix);
    EXPECT_EQ(again->cached_tokens, 19);
    EXPECT_EQ(engine.prefix_restores(), 1u);
}

TEST_F(EngineTest, QueueIsBoundedAndACancelledJobFreesItsSlot) {
    Engine engine(model, {.slots = 1, .ctx = 128, .queue = 1, .threads = 1});
    auto running = greedy_job(some_tokens(5, 7), -1);  // until the context is full
    auto waiting = greedy_job(some_tokens(5, 8), 3);
    auto refused = greedy_job(some_tokens(5, 9), 3);
    ASSERT_TRUE(engine.submit(running));
    ASSERT_TRUE(engine.submit(waiting));
    EXPECT_FALSE(engine.submit(refused));  // slots + queue are taken: refused at once
    std::vector<SampledToken> got;
    while (running->wait(got, 50ms) == FinishReason::None && got.empty()) {
    }
    engine.cancel(*running);
    collect(*running);
    EXPECT_EQ(running->finish_reason(), FinishReason::Cancelled);
    EXPECT_EQ(collect(*waiting).size(), 3u);
    EXPECT_EQ(waiting->finish_reason(), FinishReason::Length);
    EXPECT_EQ(engine.busy_slots(), 0);
}

TEST_F(EngineTest, EndsJobsThatCannotRun) {
    Engine engine(model, {.slots = 1, .ctx = 16, .queue = 1, .threads = 1});
    auto too_long = greedy_job(some_tokens(17, 1), 3);
    EXPECT_TRUE(engine.submit(too_long));
    EXPECT_EQ(too_long->finish_reason(), FinishReason::Error);
    EXPECT_NE(too_long->error().find("context of 16"), std::string::npos);
    auto late = greedy_job(some_tokens(4, 1), 3);
    late->deadline = Clock::now() - 1s;
    ASSERT_TRUE(engine.submit(late));
    collect(*late);
    EXPECT_EQ(late->finish_reason(), FinishReason::Timeout);
    auto full = greedy_job(some_tokens(14, 2), 10);  // 2 tokens of room
    ASSERT_TRUE(engine.submit(full));
    EXPECT_EQ(collect(*full).size(), 3u);  // the last one sampled is not run
    EXPECT_EQ(full->finish_reason(), FinishReason::Length);
}

TEST_F(EngineTest, PooledStatesEqualEvalPooled) {
    Engine engine(model, {.slots = 2, .ctx = 128, .queue = 2, .threads = 2});
    std::vector<std::shared_ptr<Job>> jobs;
    for (uint32_t seed : {1u, 2u, 3u}) {
        auto job = std::make_shared<Job>();
        job->kind = Job::Kind::Pool;
        job->prompt = some_tokens(10 + static_cast<int>(seed), seed);
        jobs.push_back(job);
        ASSERT_TRUE(engine.submit(job));
    }
    for (auto& job : jobs) {
        collect(*job);
        Session s(model, {});
        const auto ref = s.eval_pooled(job->prompt);
        EXPECT_EQ(job->pooled, std::vector<float>(ref.begin(), ref.end()));
    }
}

TEST_F(EngineTest, LogProbabilitiesDescribeTheSampledToken) {
    Engine engine(model, {.slots = 1, .ctx = 128, .queue = 0, .threads = 1});
    auto job = greedy_job(some_tokens(6, 3), 4);
    job->top_logprobs = 3;
    ASSERT_TRUE(engine.submit(job));
    std::vector<SampledToken> out;
    while (job->wait(out, 50ms) == FinishReason::None) {
    }
    ASSERT_EQ(out.size(), 4u);
    for (const SampledToken& t : out) {
        ASSERT_EQ(t.top.size(), 3u);
        EXPECT_EQ(t.top[0].first, t.id);  // greedy: the most likely
        EXPECT_FLOAT_EQ(t.top[0].second, t.logprob);
        EXPECT_LE(t.logprob, 0.0f);
        EXPECT_GE(t.top[0].second, t.top[1].second);
        EXPECT_GE(t.top[1].second, t.top[2].second);
    }
}

}  // namespace
}  // namespace edgelm::serve
