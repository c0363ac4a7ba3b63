// Token shards (data/token_shards.h): written in several shards and read back across
// their boundaries, 2- and 4-byte tokens, and every kind of broken file refused with an
// error naming it.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <numeric>

#include "core/error.h"
#include "data/token_shards.h"
#include "data_test_support.h"

namespace edgelm::data {
namespace {

using edgelm::testing::read_file;
using edgelm::testing::temp_dir;
using edgelm::testing::write_file;

struct WrittenSet {
    std::string dir;
    std::vector<int32_t> train, val;  // every token of each split, in order
};

// Documents of 1..9 tokens (BOS = 1 first) with ids below vocab, `max_shard` tokens per
// shard at most; every third document goes to val.
WrittenSet write_set(const std::string& name, int32_t vocab, uint64_t max_shard, int docs = 40) {
    WrittenSet w;
    w.dir = temp_dir(name);
    TokenShardWriter train(w.dir, "train", vocab, max_shard), val(w.dir, "val", vocab, max_shard);
    uint32_t x = 12345;
    for (int d = 0; d < docs; ++d) {
        std::vector<TokenId> doc = {1};
        for (int k = 0; k < d % 9; ++k) {
            x = x * 1103515245u + 12345u;
            doc.push_back(static_cast<TokenId>(x % static_cast<uint32_t>(vocab)));
        }
        const bool is_val = d % 3 == 2;
        (is_val ? val : train).add_document(doc, 10 * doc.size());
        auto& all = is_val ? w.val : w.train;
        all.insert(all.end(), doc.begin(), doc.end());
    }
    train.finish();
    val.finish();
    ShardSetMeta m;
    m.info.vocab_size = vocab;
    m.info.bos = 1;
    m.info.eos = 2;
    m.info.tokenizer = "/abs/tok.model";
    m.info.tokenizer_sha256 = std::string(64, 'a');
    m.info.train_tokens = train.tokens();
    m.info.train_bytes = train.bytes();
    m.info.train_documents = train.documents();
    m.info.val_tokens = val.tokens();
    m.info.val_bytes = val.bytes();
    m.info.val_documents = val.documents();
    m.info.duplicates_dropped = 3;
    m.token_width = token_width_for_vocab(vocab);
    m.train_shards = train.shards();
    m.val_shards = val.shards();
    m.max_shard_tokens = max_shard;
    m.input_format = "txt";
    m.val_every = 3;
    write_shard_set_meta(w.dir, m);
    return w;
}

std::vector<int32_t> read_range(const TokenSplit& s, uint64_t pos, size_t n) {
    std::vector<int32_t> out(n, -7);
    s.read(pos, n, out.data());
    return out;
}

TEST(TokenShards, RoundTripAcrossSeveralShards) {
    const WrittenSet w = write_set("shards-2", 300, 16);
    const ShardSetMeta meta = read_shard_set_meta(w.dir);
    EXPECT_GT(meta.train_shards, 5u);
    EXPECT_EQ(meta.token_width, 2);
    EXPECT_EQ(meta.val_every, 3u);
    const ShardSetInfo info = read_shard_set_info(w.dir);
    EXPECT_EQ(info.vocab_size, 300);
    EXPECT_EQ(info.tokenizer, "/abs/tok.model");
    EXPECT_EQ(info.duplicates_dropped, 3u);

    for (const char* split : {"train", "val"}) {
        const TokenSplit s = TokenSplit::open(w.dir, split);
        const auto& want = std::string(split) == "train" ? w.train : w.val;
        ASSERT_EQ(s.size(), want.size());
        EXPECT_EQ(s.bytes(), 10 * want.size());
        EXPECT_EQ(s.documents(),
                  std::string(split) == "train" ? info.train_documents : info.val_documents);
        // Every range of up to 40 tokens, so reads start and end in every shard and cross
        // every boundary.
        for (uint64_t pos = 0; pos <= want.size(); ++pos)
            for (size_t n = 0; n <= 40 && pos + n <= want.size(); ++n)
                ASSERT_EQ(read_range(s, pos, n),
                          std::vector<int32_t>(want.begin() + static_cast<ptrdiff_t>(pos),
                                               want.begin() + static_cast<ptrdiff_t>(pos + n)))
                    << split << " pos " << pos << " n " << n;
    }
    // A document never spans two shards: every shard starts with BOS.
    for (uint32_t k = 0; k < meta.train_shards; ++k) {
        const std::string bytes = read_file(w.dir + "/" + shard_file_name("train", k));
        ASSERT_GT(bytes.size(), kShardHeaderBytes);
        EXPECT_EQ(bytes[kShardHeaderBytes], 1) << k;
        EXPECT_LE((bytes.size() - kShardHeaderBytes) / 2, 16u) << k;
    }
    std::filesystem::remove_all(w.dir);
}

TEST(TokenShards, FourByteTokensForLargeVocabularies) {
    const WrittenSet w = write_set("shards-4", 100000, 1000);
    EXPECT_EQ(read_shard_set_meta(w.dir).token_width, 4);
    const TokenSplit s = TokenSplit::open(w.dir, "train");
    EXPECT_EQ(read_range(s, 0, s.size()), w.train);
    bool above_16_bits = false;
    for (int32_t t : w.train) above_16_bits |= t >= 65536;
    EXPECT_TRUE(above_16_bits);
    std::filesystem::remove_all(w.dir);
}

TEST(TokenShards, EmptySplitAndOutOfRangeReads) {
    const WrittenSet w = write_set("shards-empty", 300, 100, 2);  // no third document: no val
    const TokenSplit val = TokenSplit::open(w.dir, "val");
    EXPECT_EQ(val.size(), 0u);
    EXPECT_EQ(val.documents(), 0u);
    val.read(0, 0, nullptr);
    int32_t t;
    EXPECT_THROW(val.read(0, 1, &t), ArgumentError);
    const TokenSplit train = TokenSplit::open(w.dir, "train");
    std::vector<int32_t> out(train.size() + 1);
    EXPECT_THROW(train.read(0, out.size(), out.data()), ArgumentError);
    EXPECT_THROW(train.read(train.size() + 1, 0, out.data()), ArgumentError);
    EXPECT_THROW(train.read(UINT64_MAX, 2, out.data()), ArgumentError);
    train.read(train.size(), 0, out.data());
    EXPECT_THROW(TokenSplit::open(w.dir, "test"), ArgumentError);
    std::filesystem::remove_all(w.dir);
}

TEST(TokenShards, WriterRefusesTokensOutsideTheVocabulary) {
    const std::string dir = temp_dir("shards-bad-token");
    TokenShardWriter w(dir, "train", 300);
    const std::vector<TokenId> bad = {1, 300};
    EXPECT_THROW(w.add_document(bad, 3), ArgumentError);
    std::filesystem::remove_all(dir);
}

// Opening the train split of a copy of a good set after `damage`; returns the error.
std::string open_error(const std::function<void(const std::string& dir)>& damage) {
    const WrittenSet w = write_set("shards-broken", 300, 16);
    damage(w.dir);
    std::string what;
    try {
        TokenSplit::open(w.dir, "train");
    } catch (const Error& e) {
        what = e.what();
    }
    std::filesystem::remove_all(w.dir);
    return what;
}

void patch(const std::string& path, size_t offset, const void* bytes, size_t n) {
    std::string s = read_file(path);
    std::memcpy(s.data() + offset, bytes, n);
    write_file(path, s);
}

TEST(TokenShards, BrokenFilesAreRefusedNamingTheFile) {
    const std::string shard1 = "/train-00001.tok";
    auto expect = [](const std::string& what, const std::string& file, const std::string& needle) {
        EXPECT_NE(what.find(file), std::string::npos) << what;
        EXPECT_NE(what.find(needle), std::string::npos) << what;
    };
    expect(open_error([&](const std::string& d) { patch(d + shard1, 0, "ELMTOKS2", 8); }), shard1,
           "bad magic");
    expect(open_error([&](const std::string& d) {
               const uint32_t v = 2;
               patch(d + shard1, 8, &v, 4);
           }),
           shard1, "version 2");
    expect(open_error([&](const std::string& d) {
               const uint32_t width = 4;
               patch(d + shard1, 12, &width, 4);
           }),
           shard1, "token width 4");
    expect(open_error([&](const std::string& d) {
               const uint64_t n = 1000;
               patch(d + shard1, 16, &n, 8);
           }),
           shard1, "the header says 1000 tokens");
    expect(open_error([&](const std::string& d) {
               std::string s = read_file(d + shard1);
               write_file(d + shard1, s.substr(0, s.size() - 1));  // odd length: truncated
           }),
           shard1, "truncated");
    expect(open_error([&](const std::string& d) {
               write_file(d + shard1, read_file(d + shard1) + "xx");  // one token too many
           }),
           shard1, "but the file holds");
    expect(open_error([&](const std::string& d) { write_file(d + shard1, "ELMTOK"); }), shard1,
           "less than the 32-byte header");
    expect(open_error([&](const std::string& d) { std::filesystem::remove(d + shard1); }), shard1,
           "missing");
    // Shards that are each valid but disagree with meta.json.
    expect(open_error([&](const std::string& d) {
               const uint64_t bytes = 1;
               patch(d + shard1, 24, &bytes, 8);
           }),
           "meta.json", "meta.json says");
    expect(open_error([&](const std::string& d) { std::filesystem::remove(d + "/meta.json"); }),
           "meta.json", "missing");
    expect(open_error([&](const std::string& d) { write_file(d + "/meta.json", "{\"format\":"); }),
           "meta.json", "malformed JSON");
    expect(open_error([&](const std::string& d) {
               std::string m = read_file(d + "/meta.json");
               m.replace(m.find("\"train_tokens\""), 14, "\"train_tokenz\"");
               write_file(d + "/meta.json", m);
           }),
           "meta.json", "missing key \"train_tokens\"");
    expect(open_error([&](const std::string& d) {
               std::string m = read_file(d + "/meta.json");
               m.replace(m.find("\"vocab_size\": 300"), 17, "\"vocab_size\": 70000");
               write_file(d + "/meta.json", m);
           }),
           "meta.json", "token_width 2 does not match vocab_size 70000");
    // Optional keys too must have the right type (a FormatError, not a JSON exception).
    expect(open_error([&](const std::string& d) {
               std::string m = read_file(d + "/meta.json");
               m.replace(m.find("\"input_format\": \"txt\""), 21, "\"input_format\": 5");
               write_file(d + "/meta.json", m);
           }),
           "meta.json", "type must be string");
}

TEST(TokenShards, ReadRefusesStoredTokensOutsideTheVocabulary) {
    const WrittenSet w = write_set("shards-bad-id", 300, 16);
    const uint16_t big = 400;
    patch(w.dir + "/train-00001.tok", kShardHeaderBytes + 2, &big, 2);
    const TokenSplit s = TokenSplit::open(w.dir, "train");
    std::vector<int32_t> out(s.size());
    try {
        s.read(0, out.size(), out.data());
        ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("train-00001.tok: token 1 is 400"), std::string::npos)
            << e.what();
    }
    std::filesystem::remove_all(w.dir);
}

}  // namespace
}  // namespace edgelm::data
