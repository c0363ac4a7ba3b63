// Training a tokenizer (data::train_spm_tokenizer) and reading .model files
// (data::load_spm_vocabulary): the layout of the ids, agreement with libsentencepiece,
// inputs from directories, and clear errors for bad options and unsupported models.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "core/error.h"
#include "data/spm_training.h"
#include "data_test_support.h"

namespace edgelm::data {
namespace {

using edgelm::testing::temp_dir;
using edgelm::testing::temp_path;
using edgelm::testing::write_file;

std::string corpus_file(const std::string& name, uint32_t first, uint32_t n) {
    const std::string path = temp_path(name);
    std::string text;
    for (uint32_t i = first; i < first + n; ++i) text += edgelm::testing::sentence(i) + "\n";
    write_file(path, text);
    return path;
}

TEST(SpmTraining, IdLayoutAndParityWithSentencePiece) {
    const std::string corpus = corpus_file("spm-corpus.txt", 0, 600);
    SpmTrainOptions o;
    o.inputs = {corpus};
    o.vocab_size = 330;
    o.special_tokens = {"<sep>", "<|user|>"};
    o.output = temp_path("spm-ids.model");
    o.threads = 2;
    train_spm_tokenizer(o);

    const Vocabulary v = load_spm_vocabulary(o.output);
    ASSERT_EQ(v.tokens.size(), 330u);
    EXPECT_EQ(v.model, "llama");
    EXPECT_EQ(v.tokens[0], "<unk>");
    EXPECT_EQ(v.types[0], TokenType::kUnknown);
    EXPECT_EQ(v.tokens[1], "<s>");
    EXPECT_EQ(v.tokens[2], "</s>");
    EXPECT_EQ(v.unk, 0);
    EXPECT_EQ(v.bos, 1);
    EXPECT_EQ(v.eos, 2);
    EXPECT_EQ(v.pad, -1);
    EXPECT_EQ(v.tokens[3], "<sep>");
    EXPECT_EQ(v.types[3], TokenType::kUserDefined);
    EXPECT_EQ(v.tokens[4], "<|user|>");
    EXPECT_EQ(v.types[4], TokenType::kUserDefined);
    EXPECT_EQ(v.tokens[5], "<0x00>");
    EXPECT_EQ(v.tokens[260], "<0xFF>");
    for (size_t i = 5; i <= 260; ++i) EXPECT_EQ(v.types[i], TokenType::kByte) << i;
    EXPECT_TRUE(v.add_space_prefix);

    sentencepiece::SentencePieceProcessor sp;
    ASSERT_TRUE(sp.Load(o.output).ok());
    ASSERT_EQ(sp.GetPieceSize(), 330);
    for (int id = 0; id < 330; ++id) {
        EXPECT_EQ(v.tokens[static_cast<size_t>(id)], sp.IdToPiece(id));
        EXPECT_EQ(v.scores[static_cast<size_t>(id)], sp.GetScore(id));
    }
    const auto tok = make_spm_tokenizer(v);
    for (const std::string& text :
         {std::string("the jury said it found no sign"), std::string("  two  spaces <sep>x"),
          std::string("digits 2024 and caf\xC3\xA9\n<|user|> new line"), std::string("")}) {
        const std::vector<int> want = sp.EncodeAsIds(text);
        const std::vector<TokenId> got = tok->encode(text, false);
        EXPECT_EQ(std::vector<int>(got.begin(), got.end()), want) << text;
        EXPECT_EQ(tok->decode(got), text);
    }
    std::filesystem::remove(corpus);
    std::filesystem::remove(o.output);
}

TEST(SpmTraining, DirectoriesAreWalkedAndSampled) {
    const std::string dir = temp_dir("spm-dir");
    std::filesystem::create_directories(dir + "/sub/deeper");
    std::filesystem::create_directories(dir + "/.hidden");
    std::filesystem::rename(corpus_file("a.txt", 0, 300), dir + "/a.txt");
    std::filesystem::rename(corpus_file("b.txt", 300, 300), dir + "/sub/deeper/b.txt");
    // Hidden files are skipped: this one would fail (no text) if it were the only input,
    // and would add <0xFF>-only junk otherwise.
    write_file(dir + "/.hidden/junk.txt", std::string(100, '\xFF') + "\n");
    SpmTrainOptions o;
    o.inputs = {dir};
    o.vocab_size = 300;
    o.output = temp_path("spm-dir.model");
    o.max_sentences = 400;
    train_spm_tokenizer(o);
    EXPECT_EQ(load_spm_vocabulary(o.output).tokens.size(), 300u);
    std::filesystem::remove_all(dir);
    std::filesystem::remove(o.output);
}

std::string train_error(const SpmTrainOptions& o) {
    try {
        train_spm_tokenizer(o);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(SpmTraining, BadOptionsAreClearErrorsAndLeaveNoOutput) {
    const std::string corpus = corpus_file("spm-bad.txt", 0, 200);
    SpmTrainOptions o;
    o.inputs = {corpus};
    o.vocab_size = 300;
    const std::string out_dir = temp_dir("spm-bad-out");  // its own: other tests train too
    o.output = out_dir + "/tok.model";

    SpmTrainOptions b = o;
    b.vocab_size = 259;
    EXPECT_NE(train_error(b).find("--vocab-size 259 leaves no room"), std::string::npos);
    b.vocab_size = 262;
    b.special_tokens = {"<a>", "<b>", "<c>"};
    EXPECT_NE(train_error(b).find("above 262 (3 reserved + 256 byte tokens + 3 special)"),
              std::string::npos)
        << train_error(b);
    b = o;
    b.special_tokens = {"<a>", "<a>"};
    EXPECT_NE(train_error(b).find("'<a>' given twice"), std::string::npos);
    b.special_tokens = {"a,b"};
    EXPECT_NE(train_error(b).find("comma"), std::string::npos);
    b.special_tokens = {"<s>"};
    EXPECT_NE(train_error(b).find("already in the vocabulary"), std::string::npos);
    b.special_tokens = {"<0x41>"};
    EXPECT_NE(train_error(b).find("byte tokens"), std::string::npos);
    b = o;
    b.inputs = {"/nonexistent/corpus.txt"};
    EXPECT_NE(train_error(b).find("input '/nonexistent/corpus.txt' does not exist"),
              std::string::npos);
    b = o;
    b.output = "/nonexistent/dir/tok.model";
    EXPECT_NE(train_error(b).find("'/nonexistent/dir' does not exist"), std::string::npos);
    b = o;
    const std::string empty = temp_path("spm-empty.txt");
    write_file(empty, "\n\n");
    b.inputs = {empty};
    EXPECT_NE(train_error(b).find("no text"), std::string::npos) << train_error(b);
    // A vocabulary the corpus cannot fill: sentencepiece's own message.
    b = o;
    b.vocab_size = 20000;
    const std::string too_big = train_error(b);
    EXPECT_EQ(too_big.rfind("tokenizer train: sentencepiece: ", 0), 0u) << too_big;
    EXPECT_FALSE(std::filesystem::exists(o.output));
    // No temporary files left next to the output.
    EXPECT_TRUE(std::filesystem::is_empty(out_dir));
    std::filesystem::remove_all(out_dir);
    std::filesystem::remove(corpus);
    std::filesystem::remove(empty);
}

// Trains a model with libsentencepiece directly, with extra settings.
std::string train_direct(const std::string& name,
                         std::unordered_map<std::string, std::string> extra) {
    const std::string corpus = corpus_file(name + ".txt", 0, 300);
    const std::string prefix = temp_path(name);
    std::unordered_map<std::string, std::string> args = {{"input", corpus},
                                                         {"model_prefix", prefix},
                                                         {"model_type", "bpe"},
                                                         {"vocab_size", "300"},
                                                         {"byte_fallback", "true"},
                                                         {"minloglevel", "2"},
                                                         {"normalization_rule_name", "identity"},
                                                         {"remove_extra_whitespaces", "false"}};
    for (auto& [k, v] : extra) args[k] = v;
    EXPECT_TRUE(sentencepiece::SentencePieceTrainer::Train(args).ok());
    std::filesystem::remove(corpus);
    std::filesystem::remove(prefix + ".vocab");
    return prefix + ".model";
}

std::string load_error(const std::string& path) {
    try {
        load_spm_vocabulary(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(SpmVocabulary, RefusesModelsItWouldTokenizeDifferently) {
    const std::string unigram = train_direct("spm-unigram", {{"model_type", "unigram"}});
    EXPECT_NE(load_error(unigram).find("unigram model; edgelm implements BPE only"),
              std::string::npos)
        << load_error(unigram);
    const std::string nfkc = train_direct("spm-nfkc", {{"normalization_rule_name", "nmt_nfkc"}});
    EXPECT_NE(load_error(nfkc).find("normalization 'nmt_nfkc'"), std::string::npos);
    const std::string squeeze = train_direct("spm-squeeze", {{"remove_extra_whitespaces", "true"}});
    EXPECT_NE(load_error(squeeze).find("whitespace handling differs"), std::string::npos);
    // The same settings as ours, trained directly, load fine.
    const std::string ok = train_direct("spm-ok", {});
    EXPECT_EQ(load_error(ok), "");
    for (const std::string& p : {unigram, nfkc, squeeze, ok}) std::filesystem::remove(p);
}

TEST(SpmVocabulary, RefusesFilesThatAreNotModels) {
    const std::string path = temp_path("not-a-model");
    write_file(path, "this is plain text, not a protobuf");
    EXPECT_NE(load_error(path).find(path + ": not a SentencePiece model"), std::string::npos)
        << load_error(path);
    write_file(path, "");
    EXPECT_NE(load_error(path).find("not a SentencePiece model"), std::string::npos);
    // A real model cut short.
    const std::string& tiny = edgelm::testing::tiny_tokenizer();
    const std::string bytes = edgelm::testing::read_file(tiny);
    write_file(path, bytes.substr(0, bytes.size() / 2));
    EXPECT_NE(load_error(path).find("truncated"), std::string::npos) << load_error(path);
    std::filesystem::remove(path);
    EXPECT_THROW(load_spm_vocabulary("/nonexistent/tok.model"), IoError);
}

}  // namespace
}  // namespace edgelm::data
