// The edgelm command line end to end on a tiny model: JSON outputs carry the documented
// keys, and bad input gives exactly one error line and a non-zero exit.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_test_support.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_writer.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::temp_path;

using testing::CliResult;
using testing::expect_one_error_line;
using testing::run_cli;

class CliTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        model_ = new std::string(temp_path("cli-model.gguf"));
        const CliResult r = run_cli(
            "init --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 300 "
            "--ctx 64 --type q8_0 --seed 3 -o " +
            *model_);
        ASSERT_EQ(r.code, 0) << r.err;
        text_ = new std::string(temp_path("cli-text.txt"));
        std::ofstream(*text_) << "the quick brown fox jumps over the lazy dog. "
                              << "a b c d e f g\n";
    }
    static void TearDownTestSuite() {
        std::filesystem::remove(*model_);
        std::filesystem::remove(*text_);
        delete model_;
        delete text_;
    }
    static std::string* model_;
    static std::string* text_;
};
std::string* CliTest::model_ = nullptr;
std::string* CliTest::text_ = nullptr;

TEST_F(CliTest, InspectJson) {
    const CliResult r = run_cli("inspect --json " + *model_);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(j["config"]["kv_heads"], 2);
    EXPECT_EQ(j["tokenizer"]["tokens"], 300);
    EXPECT_EQ(j["tensors"].size(), 2u + 2u * 9u);
    EXPECT_GT(j["n_params"].get<uint64_t>(), 0u);
}

TEST_F(CliTest, RunStreamsTheContinuation) {
    const CliResult r = run_cli("run " + *model_ + " -p 'hello world' -n 8 --temp 0 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("hello world", 0), 0u) << r.out;
    EXPECT_GT(r.out.size(), std::string("hello world\n").size());
    EXPECT_EQ(run_cli("run " + *model_ + " -p 'hello world' -n 8 --temp 0 -t 1").out, r.out);
}

TEST_F(CliTest, PromptCacheGivesTheSameOutput) {
    const std::string cache = temp_path("cli.cache");
    const std::string args = "run " + *model_ +
                             " -p 'the quick brown fox' -n 6 --temp 0.7 --seed 9 --prompt-cache " +
                             cache;
    const CliResult first = run_cli(args), second = run_cli(args + " --stats");
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_EQ(first.out, second.out);
    EXPECT_NE(second.err.find("from cache"), std::string::npos);
    EXPECT_EQ(second.err.find("(0 from cache)"), std::string::npos) << second.err;
    std::filesystem::remove(cache);
}

TEST_F(CliTest, PerplexityJson) {
    const CliResult r =
        run_cli("perplexity " + *model_ + " -f " + *text_ + " --ctx 16 --json -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    for (const char* k : {"perplexity", "bits_per_byte", "tokens", "bytes"})
        EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_GT(j["perplexity"].get<double>(), 1.0);
    EXPECT_EQ(j["bytes"].get<int>(), static_cast<int>(std::filesystem::file_size(*text_)));
}

TEST_F(CliTest, BenchJson) {
    const CliResult r = run_cli("bench " + *model_ + " -p 8 -n 8 -r 2 -t 2 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    for (const char* k : {"prefill_tok_s", "decode_tok_s"}) {
        EXPECT_GT(j[k]["median"].get<double>(), 0.0) << k;
        EXPECT_GT(j[k]["mean"].get<double>(), 0.0) << k;
        EXPECT_TRUE(j[k].contains("sd")) << k;
    }
    for (const char* k : {"p50", "p95", "p99"})
        EXPECT_GT(j["decode_latency_ms"][k].get<double>(), 0.0);
    EXPECT_GT(j["ttft_ms"].get<double>(), 0.0);
    EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
    EXPECT_EQ(j["size_bytes"].get<uint64_t>(), std::filesystem::file_size(*model_));
    EXPECT_EQ(j["threads"], 2);
}

TEST_F(CliTest, ClusterWritesAModelThatRuns) {
    const std::string f32 = temp_path("cli-f32.gguf"), clustered = temp_path("cli-c4.gguf");
    ASSERT_EQ(run_cli("init --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 300 "
                      "--ctx 64 --type f32 --seed 3 -o " +
                      f32)
                  .code,
              0);
    const CliResult r = run_cli("cluster " + f32 + " " + clustered + " --bits 4 --rate 3 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("bits/weight"), std::string::npos) << r.out;
    EXPECT_LT(std::filesystem::file_size(clustered), std::filesystem::file_size(f32) / 6);
    const CliResult run = run_cli("run " + clustered + " -p 'the quick' -n 4 --temp 0");
    EXPECT_EQ(run.code, 0) << run.err;
    // The q8_0 model cannot be clustered, and --bits must be 1..8.
    expect_one_error_line(run_cli("cluster " + *model_ + " " + temp_path("x.gguf")), "q8_0");
    expect_one_error_line(run_cli("cluster " + f32 + " " + temp_path("x.gguf") + " --bits 9"),
                          "--bits");
    std::filesystem::remove(f32);
    std::filesystem::remove(clustered);
}

TEST_F(CliTest, BadInputGivesOneClearLine) {
    expect_one_error_line(run_cli("run /nonexistent/model.gguf -p hi"), "/nonexistent/model.gguf");
    expect_one_error_line(run_cli("run " + *model_ + " -p hi -t 0"), "thread");
    std::string long_prompt;
    for (int i = 0; i < 100; ++i) long_prompt += "word ";
    expect_one_error_line(run_cli("run " + *model_ + " -p '" + long_prompt + "'"), "context");
    expect_one_error_line(
        run_cli("quantize " + *model_ + " " + temp_path("x.gguf") + " --type q5_9"), "q5_9");
    expect_one_error_line(run_cli("perplexity " + *model_ + " -f /nonexistent.txt"),
                          "/nonexistent.txt");
    expect_one_error_line(run_cli("inspect " + *text_), "not a GGUF file");

    // A well-formed GGUF of an architecture edgelm does not run.
    const std::string other = temp_path("gpt2-arch.gguf");
    GgufWriter w;
    w.set(keys::kArchitecture, GgufValue::string("gpt2"));
    const float zero[4] = {};
    w.add_tensor(keys::kTokenEmbd, DType::F32, {4, 1}, zero, sizeof zero);
    w.write(other);
    expect_one_error_line(run_cli("run " + other + " -p hi"), "architecture 'gpt2'");
    std::filesystem::remove(other);
}

}  // namespace
}  // namespace edgelm
