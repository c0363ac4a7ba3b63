// Sessions over a shared model: state save/load (prompt cache), context limits, bad
// state files, and the sampler's determinism and filters.
#include <gtest/gtest.h>

#include <random>

#include <fstream>
#include <thread>

#include "core/error.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

std::vector<TokenId> generate(Session& s, int n) {
    std::vector<TokenId> out;
    for (int i = 0; i < n; ++i) {
        TokenId t = s.sample();
        out.push_back(t);
        s.eval(std::span<const TokenId>(&t, 1));
    }
    return out;
}

class SessionTest : public ::testing::Test {
  protected:
    void SetUp() override {
        m_ = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 48, true), DType::Q8_0,
                             "session.gguf", 3, 0.3f);
        model_ = Model::load(m_.path);
    }
    void TearDown() override { std::filesystem::remove(m_.path); }

    SessionParams sampling(uint64_t seed) const {
        SessionParams p;
        p.n_threads = 2;
        p.sampler.temperature = 0.9f;
        p.sampler.top_k = 50;
        p.sampler.seed = seed;
        return p;
    }

    testing::TestModel m_;
    std::shared_ptr<const Model> model_;
    const std::vector<TokenId> prompt_ = {1, 40, 41, 42, 77, 150, 9};
};

TEST_F(SessionTest, SaveAndLoadResumesToTheSameTokens) {
    Session a(model_, sampling(5));
    a.eval(prompt_);
    const std::string state = temp_path("state.bin");
    a.save_state(state);
    const std::vector<TokenId> expected = generate(a, 20);

    Session b(model_, sampling(999));  // the seed in the file wins
    b.load_state(state);
    EXPECT_EQ(b.tokens(), prompt_);
    EXPECT_EQ(generate(b, 20), expected);
    std::filesystem::remove(state);
}

TEST_F(SessionTest, SnapshotRestoresThePrefixIntoAnotherSession) {
    SessionParams greedy;
    greedy.sampler.temperature = 0;
    Session a(model_, greedy);
    a.eval(prompt_);
    const SessionSnapshot snap = a.snapshot(5);
    const std::vector<TokenId> expected = generate(a, 12);
    EXPECT_EQ(snap.tokens.size(), 5u);

    Session b(model_, greedy);
    b.eval(std::vector<TokenId>{7, 8, 9});  // other content, overwritten
    b.restore(snap);
    EXPECT_EQ(b.position(), 5);
    b.eval(std::span<const TokenId>(prompt_).subspan(5));  // the rest of the prompt
    EXPECT_EQ(generate(b, 12), expected);
    EXPECT_THROW(a.snapshot(1000), ArgumentError);
    SessionSnapshot foreign = snap;
    foreign.fingerprint ^= 1;
    EXPECT_THROW(b.restore(foreign), ArgumentError);
}

TEST_F(SessionTest, SameSeedSameTokensAndSessionsShareOneModel) {
    std::vector<TokenId> r1, r2;
    std::thread t1([&] {
        Session s(model_, sampling(7));
        s.eval(prompt_);
        r1 = generate(s, 25);
    });
    std::thread t2([&] {
        Session s(model_, sampling(7));
        s.eval(prompt_);
        r2 = generate(s, 25);
    });
    t1.join();
    t2.join();
    EXPECT_EQ(r1, r2);
    Session other(model_, sampling(8));
    other.eval(prompt_);
    EXPECT_NE(generate(other, 25), r1);
}

TEST_F(SessionTest, TruncateThenReevaluateReproducesLogits) {
    Session s(model_, sampling(1));
    auto full = s.eval(prompt_);
    const std::vector<float> expected(full.begin(), full.end());
    s.truncate(3);
    auto again = s.eval(std::span<const TokenId>(prompt_).subspan(3));
    EXPECT_EQ(std::vector<float>(again.begin(), again.end()), expected);
}

TEST_F(SessionTest, ContextOverflowAndBadTokensAreArgumentErrors) {
    Session s(model_, {8, 1, {}, {}});
    s.eval(prompt_);
    const std::vector<TokenId> two = {5, 6};
    EXPECT_THROW(s.eval(two), ArgumentError);
    EXPECT_EQ(s.position(), static_cast<int>(prompt_.size()));  // nothing was half-applied
    const std::vector<TokenId> bad = {300};
    Session t(model_, {0, 1, {}, {}});
    EXPECT_THROW(t.eval(bad), ArgumentError);
    EXPECT_THROW(Session(model_, {0, 0, {}, {}}), ArgumentError);
}

TEST_F(SessionTest, DamagedOrForeignStateFilesAreRejected) {
    Session a(model_, sampling(5));
    a.eval(prompt_);
    const std::string state = temp_path("state2.bin");
    a.save_state(state);
    const auto size = std::filesystem::file_size(state);

    std::filesystem::resize_file(state, size - 4);  // truncated
    Session b(model_, sampling(5));
    EXPECT_THROW(b.load_state(state), FormatError);
    EXPECT_EQ(b.position(), 0);

    {
        std::ofstream f(state, std::ios::binary | std::ios::trunc);
        f << "not a state file at all, but long enough to have a header";
    }
    EXPECT_THROW(b.load_state(state), FormatError);

    // A state of a different model (same shape, other weights).
    auto other = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 48, true), DType::Q8_0,
                                 "other.gguf", 4, 0.3f);
    Session c(Model::load(other.path), sampling(5));
    c.eval(prompt_);
    c.save_state(state);
    EXPECT_THROW(b.load_state(state), FormatError);
    std::filesystem::remove(other.path);
    std::filesystem::remove(state);
}

TEST(SamplerTest, GreedyPicksTheMaximumAndTopKOneIsGreedy) {
    const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f};
    Sampler greedy({0.0f, 40, 0.95f, 0.05f, 1.0f, 64, 0});
    EXPECT_EQ(greedy.sample(logits, {}), 1);
    Sampler top1({1.5f, 1, 1.0f, 0.0f, 1.0f, 64, 123});
    for (int i = 0; i < 20; ++i) EXPECT_EQ(top1.sample(logits, {}), 1);
}

TEST(SamplerTest, GreedyIsTheFirstMaximumOfAnyLength) {
    // Lengths around the 8-lane reduction, maxima at the start, inside, in the tail, tied.
    Sampler greedy({0.0f, 40, 0.95f, 0.05f, 1.0f, 64, 0});
    std::mt19937 rng(4);
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    for (int n : {1, 7, 8, 9, 31, 32000, 32003}) {
        std::vector<float> logits(static_cast<size_t>(n));
        for (float& v : logits) v = u(rng);
        for (int where : {0, n / 2, n - 1}) {
            std::vector<float> l = logits;
            l[static_cast<size_t>(where)] = 9.0f;
            if (where + 3 < n) l[static_cast<size_t>(where + 3)] = 9.0f;  // a later tie
            const auto want = std::max_element(l.begin(), l.end()) - l.begin();
            EXPECT_EQ(greedy.sample(l, {}), want) << "n=" << n << " where=" << where;
        }
    }
}

TEST(SamplerTest, RepetitionPenaltyDemotesSeenTokens) {
    const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f};
    Sampler s({0.0f, 0, 1.0f, 0.0f, 1.5f, 64, 0});
    const std::vector<TokenId> history = {1};
    EXPECT_EQ(s.sample(logits, history), 3);  // 2.0 / 1.5 < 1.9
}

TEST(SamplerTest, TopPAndMinPKeepOnlyTheHead) {
    // Probabilities at temperature 1: token 0 dominates.
    const std::vector<float> logits = {5.0f, 0.0f, 0.0f, 0.0f};
    Sampler top_p({1.0f, 0, 0.5f, 0.0f, 1.0f, 64, 42});
    Sampler min_p({1.0f, 0, 1.0f, 0.1f, 1.0f, 64, 42});
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(top_p.sample(logits, {}), 0);
        EXPECT_EQ(min_p.sample(logits, {}), 0);
    }
}

TEST(SamplerTest, DrawsFollowTheDistribution) {
    const std::vector<float> logits = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
    Sampler s({1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 2024});
    int ones = 0;
    for (int i = 0; i < 4000; ++i) ones += s.sample(logits, {}) == 1;
    EXPECT_NEAR(ones / 4000.0, 0.75, 0.03);
}

TEST(SamplerTest, InvalidParametersAreRejected) {
    EXPECT_THROW(Sampler({-1.0f, 40, 0.95f, 0.05f, 1.0f, 64, 0}), ArgumentError);
    EXPECT_THROW(Sampler({1.0f, 40, 0.0f, 0.05f, 1.0f, 64, 0}), ArgumentError);
    EXPECT_THROW(Sampler({1.0f, 40, 0.9f, 1.0f, 1.0f, 64, 0}), ArgumentError);
    EXPECT_THROW(Sampler({1.0f, -2, 0.9f, 0.1f, 1.0f, 64, 0}), ArgumentError);
}

}  // namespace
}  // namespace edgelm
