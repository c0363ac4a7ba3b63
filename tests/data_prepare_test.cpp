// `edgelm data prepare` as a library call (data::prepare_token_shards): documents come
// back out of the shards exactly (decoded), bytes and counts add up, duplicates are
// dropped, both validation rules split as documented, threads do not change the output,
// and bad options fail cleanly without leaving output behind.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "data/data_prepare.h"
#include "data/sha256.h"
#include "data/spm_vocabulary.h"
#include "data_test_support.h"

namespace edgelm::data {
namespace {

using edgelm::testing::document;
using edgelm::testing::read_file;
using edgelm::testing::temp_dir;
using edgelm::testing::temp_path;
using edgelm::testing::tiny_tokenizer;
using edgelm::testing::txt_corpus;
using edgelm::testing::write_file;

std::vector<std::string> documents(uint32_t n, uint32_t first = 0) {
    std::vector<std::string> docs;
    for (uint32_t i = first; i < first + n; ++i) docs.push_back(document(i));
    return docs;
}

PrepareOptions options(const std::vector<std::string>& inputs, const std::string& out) {
    PrepareOptions o;
    o.inputs = inputs;
    o.tokenizer = tiny_tokenizer();
    o.output = out;
    return o;
}

// The documents of one split, decoded: each starts at a BOS.
std::vector<std::string> decoded_split(const std::string& dir, const std::string& split) {
    const TokenSplit s = TokenSplit::open(dir, split);
    std::vector<int32_t> all(s.size());
    s.read(0, all.size(), all.data());
    const auto tok = make_spm_tokenizer(load_spm_vocabulary(tiny_tokenizer()));
    const TokenId bos = tok->vocab().bos;
    std::vector<std::string> docs;
    std::vector<TokenId> cur;
    for (size_t i = 0; i <= all.size(); ++i) {
        if (i == all.size() || all[i] == bos) {
            if (!cur.empty()) docs.push_back(tok->decode(cur));
            cur.clear();
        }
        if (i < all.size()) cur.push_back(all[i]);
    }
    EXPECT_EQ(docs.size(), s.documents());
    if (!all.empty()) {
        EXPECT_EQ(all[0], bos);
    }
    return docs;
}

uint64_t total_bytes(const std::vector<std::string>& docs) {
    uint64_t n = 0;
    for (const std::string& d : docs) n += d.size();
    return n;
}

TEST(DataPrepare, TxtValEveryRoundTripAcrossShards) {
    const std::vector<std::string> docs = documents(50);
    const std::string input = temp_path("prep-every.txt");
    write_file(input, txt_corpus(docs));
    const std::string out = temp_path("prep-every.out");
    std::filesystem::remove_all(out);
    PrepareOptions o = options({input}, out);
    o.val_every = 10;
    o.max_shard_tokens = 64;  // several shards
    const PrepareReport r = prepare_token_shards(o);

    std::vector<std::string> want_train, want_val;
    for (size_t i = 0; i < docs.size(); ++i)
        (i % 10 == 9 ? want_val : want_train).push_back(docs[i]);
    EXPECT_EQ(decoded_split(out, "train"), want_train);
    EXPECT_EQ(decoded_split(out, "val"), want_val);

    const ShardSetMeta m = read_shard_set_meta(out);
    EXPECT_GT(m.train_shards, 3u);
    EXPECT_EQ(m.info.train_documents, 45u);
    EXPECT_EQ(m.info.val_documents, 5u);
    EXPECT_EQ(m.info.train_bytes, total_bytes(want_train));
    EXPECT_EQ(m.info.val_bytes, total_bytes(want_val));
    // Every byte of the input is a document byte or a separator: "\n\n" between
    // documents and a final "\n".
    EXPECT_EQ(m.info.train_bytes + m.info.val_bytes + 49 * 2 + 1,
              std::filesystem::file_size(input));
    EXPECT_EQ(TokenSplit::open(out, "train").bytes(), m.info.train_bytes);
    EXPECT_EQ(m.info.vocab_size, 320);
    EXPECT_EQ(m.info.bos, 1);
    EXPECT_EQ(m.info.eos, 2);
    EXPECT_EQ(m.info.tokenizer, tiny_tokenizer());
    EXPECT_EQ(m.info.tokenizer_sha256, sha256_file_hex(tiny_tokenizer()));
    EXPECT_EQ(m.info.duplicates_dropped, 0u);
    EXPECT_EQ(m.val_every, 10u);
    EXPECT_EQ(m.input_format, "txt");
    ASSERT_EQ(m.sources.size(), 1u);
    EXPECT_EQ(m.sources[0].first, input);
    EXPECT_EQ(r.meta.info.train_tokens, m.info.train_tokens);
    EXPECT_EQ(r.input_bytes, std::filesystem::file_size(input));
    std::filesystem::remove_all(out);
    std::filesystem::remove(input);
}

TEST(DataPrepare, DuplicatesAreDroppedBeforeTheValCount) {
    // Documents 0..9 with copies of 2 and 5 after them: 12 read, 2 dropped, 10 kept;
    // --val-every 5 counts the kept ones, so val is the 5th and 10th kept document.
    std::vector<std::string> docs = documents(10);
    std::vector<std::string> input_docs = docs;
    input_docs.insert(input_docs.begin() + 4, docs[2]);
    input_docs.push_back(docs[5]);
    const std::string input = temp_path("prep-dup.txt");
    write_file(input, txt_corpus(input_docs));
    const std::string out = temp_path("prep-dup.out");
    std::filesystem::remove_all(out);
    PrepareOptions o = options({input}, out);
    o.val_every = 5;
    prepare_token_shards(o);
    const ShardSetMeta m = read_shard_set_meta(out);
    EXPECT_EQ(m.documents_read, 12u);
    EXPECT_EQ(m.info.duplicates_dropped, 2u);
    EXPECT_EQ(decoded_split(out, "val"), (std::vector<std::string>{docs[4], docs[9]}));
    EXPECT_EQ(m.info.train_documents, 8u);
    std::filesystem::remove_all(out);
    std::filesystem::remove(input);
}

TEST(DataPrepare, ValFractionIsDeterministicAndOrderFree) {
    const std::vector<std::string> docs = documents(300);
    const std::string a = temp_path("prep-frac-a.txt"), b = temp_path("prep-frac-b.txt");
    write_file(a, txt_corpus(docs));
    std::vector<std::string> reversed(docs.rbegin(), docs.rend());
    write_file(b, txt_corpus(reversed));
    auto val_set = [&](const std::string& input, int threads) {
        const std::string out = temp_path("prep-frac.out");
        std::filesystem::remove_all(out);
        PrepareOptions o = options({input}, out);
        o.val_fraction = 0.2;
        o.threads = threads;
        prepare_token_shards(o);
        const auto val = decoded_split(out, "val");
        const auto train = decoded_split(out, "train");
        EXPECT_EQ(val.size() + train.size(), docs.size());
        std::filesystem::remove_all(out);
        return std::set<std::string>(val.begin(), val.end());
    };
    const std::set<std::string> first = val_set(a, 1);
    EXPECT_EQ(val_set(a, 3), first);
    EXPECT_EQ(val_set(b, 2), first);  // the same texts, in the other order
    // About 20% of 300 (binomial sd ~7).
    EXPECT_GT(first.size(), 30u);
    EXPECT_LT(first.size(), 90u);
    std::filesystem::remove(a);
    std::filesystem::remove(b);
}

TEST(DataPrepare, ThreadsDoNotChangeTheShards) {
    const std::string input = temp_path("prep-threads.txt");
    write_file(input, txt_corpus(documents(120)));
    std::map<int, std::string> shard;
    for (int threads : {1, 2, 4}) {
        const std::string out = temp_path("prep-threads.out");
        std::filesystem::remove_all(out);
        PrepareOptions o = options({input}, out);
        o.threads = threads;
        prepare_token_shards(o);
        shard[threads] = read_file(out + "/train-00000.tok") + read_file(out + "/val-00000.tok");
        std::filesystem::remove_all(out);
    }
    EXPECT_EQ(shard[2], shard[1]);
    EXPECT_EQ(shard[4], shard[1]);
    std::filesystem::remove(input);
}

TEST(DataPrepare, JsonlCsvAndDirectories) {
    const std::string dir = temp_dir("prep-dir");
    std::filesystem::create_directories(dir + "/b");
    // Sorted order: a.jsonl, b/c.jsonl.
    write_file(dir + "/b/c.jsonl", "{\"text\": \"third doc\\nwith two lines\"}\n");
    write_file(dir + "/a.jsonl",
               "{\"text\": \"first doc\"}\n{\"text\": \"\"}\n\n{\"text\": \"second doc\"}\n");
    const std::string out = temp_path("prep-jsonl.out");
    std::filesystem::remove_all(out);
    PrepareOptions o = options({dir}, out);
    o.format = "jsonl:text";
    o.val_every = 2;
    prepare_token_shards(o);
    EXPECT_EQ(decoded_split(out, "train"),
              (std::vector<std::string>{"first doc", "third doc\nwith two lines"}));
    EXPECT_EQ(decoded_split(out, "val"), (std::vector<std::string>{"second doc"}));
    ShardSetMeta m = read_shard_set_meta(out);
    EXPECT_EQ(m.empty_documents_dropped, 1u);
    EXPECT_EQ(m.input_format, "jsonl:text");
    ASSERT_EQ(m.sources.size(), 2u);
    EXPECT_EQ(m.sources[1].first, dir + "/b/c.jsonl");
    std::filesystem::remove_all(out);

    const std::string csv = temp_path("prep.csv");
    write_file(csv, "id,body\n1,\"a, b\"\n2,\"line one\nline \"\"two\"\"\"\n3,plain\n");
    o = options({csv}, out);
    o.format = "csv:body";
    o.val_every = 3;
    prepare_token_shards(o);
    EXPECT_EQ(decoded_split(out, "train"),
              (std::vector<std::string>{"a, b", "line one\nline \"two\""}));
    EXPECT_EQ(decoded_split(out, "val"), (std::vector<std::string>{"plain"}));
    std::filesystem::remove_all(out);
    std::filesystem::remove_all(dir);
    std::filesystem::remove(csv);
}

std::string prepare_error(const PrepareOptions& o) {
    try {
        prepare_token_shards(o);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(DataPrepare, BadOptionsAndInputFailWithoutLeavingOutput) {
    const std::string input = temp_path("prep-bad.txt");
    write_file(input, txt_corpus(documents(5)));
    const std::string parent = temp_dir("prep-bad");
    const std::string out = parent + "/shards";
    const PrepareOptions good = options({input}, out);

    PrepareOptions o = good;
    o.val_fraction = 0;
    EXPECT_NE(prepare_error(o).find("--val-fraction 0.000000 is outside (0, 1)"),
              std::string::npos);
    o.val_fraction = 1.5;
    EXPECT_NE(prepare_error(o).find("outside (0, 1)"), std::string::npos);
    o = good;
    o.val_every = 1;
    EXPECT_NE(prepare_error(o).find("--val-every 1"), std::string::npos);
    o = good;
    o.format = "xml";
    EXPECT_NE(prepare_error(o).find("unknown --format 'xml'"), std::string::npos);
    o = good;
    o.tokenizer = "/nonexistent/tok.model";
    EXPECT_NE(prepare_error(o).find("tokenizer '/nonexistent/tok.model' does not exist"),
              std::string::npos);
    o = good;
    o.inputs = {input, "/nonexistent/more.txt"};
    EXPECT_NE(prepare_error(o).find("input '/nonexistent/more.txt' does not exist"),
              std::string::npos);
    o = good;
    o.output = "/nonexistent/dir/shards";
    EXPECT_NE(prepare_error(o).find("does not exist"), std::string::npos);

    // Malformed input part-way: an error naming file and line, and nothing left behind.
    const std::string jsonl = temp_path("prep-bad.jsonl");
    std::string lines;
    for (int i = 0; i < 20000; ++i) lines += "{\"text\": \"doc " + std::to_string(i) + "\"}\n";
    write_file(jsonl, lines + "{\"text\": oops}\n");
    o = options({jsonl}, out);
    o.format = "jsonl:text";
    EXPECT_NE(prepare_error(o).find(jsonl + ":20001: malformed JSON"), std::string::npos)
        << prepare_error(o);
    EXPECT_TRUE(std::filesystem::is_empty(parent)) << "left behind in " << parent;

    // An existing empty output directory is fine; a non-empty one is refused.
    std::filesystem::create_directory(out);
    prepare_token_shards(good);
    EXPECT_TRUE(std::filesystem::exists(out + "/meta.json"));
    EXPECT_NE(prepare_error(good).find("'" + out + "' is not empty"), std::string::npos);
    std::filesystem::remove_all(parent);
    std::filesystem::remove(input);
    std::filesystem::remove(jsonl);
}

}  // namespace
}  // namespace edgelm::data
