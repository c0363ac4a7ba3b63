// `edgelm tokenizer train` and `edgelm data prepare` run as the binary: the summary line,
// the files they write, and bad input as one clear error line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "cli_test_support.h"
#include "data_test_support.h"

namespace edgelm {
namespace {

using testing::read_file;
using testing::temp_dir;
using testing::temp_path;
using testing::write_file;

using testing::CliResult;
using testing::expect_one_error_line;
using testing::run_cli;

class DataCliTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new std::string(temp_dir("data-cli"));
        std::string lines, docs;
        for (uint32_t i = 0; i < 600; ++i) lines += testing::sentence(i) + "\n";
        for (uint32_t i = 0; i < 40; ++i) docs += (i ? "\n\n" : "") + testing::document(i);
        write_file(*dir_ + "/lines.txt", lines);
        write_file(*dir_ + "/docs.txt", docs + "\n");
    }
    static void TearDownTestSuite() {
        std::filesystem::remove_all(*dir_);
        delete dir_;
    }
    static std::string* dir_;
};
std::string* DataCliTest::dir_ = nullptr;

TEST_F(DataCliTest, TokenizerTrainThenDataPrepare) {
    const std::string& d = *dir_;
    CliResult r = run_cli("tokenizer train --input " + d +
                          "/lines.txt --vocab-size 320 --special "
                          "'<sep>,<eot>' -t 1 -o " +
                          d + "/tok.model");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find("vocab 320"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(d + "/tok.model"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");

    r = run_cli("data prepare --input " + d + "/docs.txt --tokenizer " + d + "/tok.model -o " + d +
                "/shards --val-every 4 --shard-tokens 100 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("train "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("30 documents"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("10 documents"), std::string::npos) << r.out;
    // Not a terminal: progress as whole lines.
    EXPECT_NE(r.err.find("read "), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
    const auto meta = nlohmann::json::parse(read_file(d + "/shards/meta.json"));
    EXPECT_EQ(meta["vocab_size"], 320);
    EXPECT_EQ(meta["train_documents"], 30);
    EXPECT_EQ(meta["val_documents"], 10);
    EXPECT_EQ(meta["val_split"]["every"], 4);
    EXPECT_GT(meta["train_shards"].get<int>(), 1);
    EXPECT_TRUE(std::filesystem::exists(d + "/shards/train-00001.tok"));
}

TEST_F(DataCliTest, BadInputGivesOneClearLine) {
    const std::string& d = *dir_;
    expect_one_error_line(run_cli("tokenizer train --input " + d +
                                  "/lines.txt --vocab-size 200 -o " + d + "/x.model"),
                          "--vocab-size 200");
    expect_one_error_line(run_cli("tokenizer train --input " + d +
                                  "/missing.txt --vocab-size 300 -o " + d + "/x.model"),
                          "missing.txt' does not exist");
    EXPECT_FALSE(std::filesystem::exists(d + "/x.model"));

    write_file(d + "/bad.jsonl", "{\"text\": \"fine\"}\n{\"body\": \"no text\"}\n");
    const std::string tok = testing::tiny_tokenizer();
    expect_one_error_line(run_cli("data prepare --input " + d + "/bad.jsonl --tokenizer " + tok +
                                  " -o " + d + "/bad-shards --format jsonl:text"),
                          "bad.jsonl:2: no field 'text'");
    expect_one_error_line(run_cli("data prepare --input " + d + "/docs.txt --tokenizer " + tok +
                                  " -o " + d + "/bad-shards --format parquet"),
                          "unknown --format 'parquet'");
    expect_one_error_line(run_cli("data prepare --input " + d + "/docs.txt --tokenizer " + d +
                                  "/nope.model -o " + d + "/bad-shards"),
                          "nope.model' does not exist");
    expect_one_error_line(run_cli("data prepare --input " + d + "/docs.txt --tokenizer " + tok +
                                  " -o " + d + "/bad-shards --val-fraction 2"),
                          "outside (0, 1)");
    // Both split rules: a usage error (exit 2).
    const CliResult both = run_cli("data prepare --input " + d + "/docs.txt --tokenizer " + tok +
                                   " -o " + d + "/bad-shards --val-every 3 --val-fraction 0.1");
    EXPECT_EQ(both.code, 2);
    expect_one_error_line(both, "excludes");
    EXPECT_FALSE(std::filesystem::exists(d + "/bad-shards"));
}

}  // namespace
}  // namespace edgelm
