// SentencePiece-BPE tokenizer on a tiny hand-built vocabulary with exact expected ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace edgelm {
namespace {

constexpr TokenId kUnk = 0, kBos = 1, kEos = 2, kByte0 = 3;

TokenId byte_id(unsigned char b) {
    return kByte0 + b;
}

struct Piece {
    std::string text;
    float score;
    TokenType type = TokenType::kNormal;
};

// <unk> <s> </s>, the 256 byte tokens (if with_bytes), then `pieces` in order.
Vocabulary make_vocab(const std::vector<Piece>& pieces, bool with_bytes = true) {
    Vocabulary v;
    v.model = "llama";
    auto add = [&v](const std::string& text, float score, TokenType type) {
        v.tokens.push_back(text);
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0, TokenType::kUnknown);
    add("<s>", 0, TokenType::kControl);
    add("</s>", 0, TokenType::kControl);
    if (with_bytes) {
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            add(name, 0, TokenType::kByte);
        }
    }
    for (const Piece& p : pieces) add(p.text, p.score, p.type);
    v.unk = kUnk;
    v.bos = kBos;
    v.eos = kEos;
    return v;
}

// Characters score low; merged pieces score by the order they should merge in.
std::vector<Piece> base_pieces() {
    return {
        {"\xE2\x96\x81", -10},  // ▁
        {"h", -11},
        {"e", -12},
        {"l", -13},
        {"o", -14},
        {"w", -15},
        {"r", -16},
        {"d", -17},
        {"a", -18},
        {"b", -19},
        {"c", -20},
        {"ll", -1},
        {"he", -2},
        {"llo", -3},
        {"\xE2\x96\x81he", -4},
        {"\xE2\x96\x81hello", -5},
        {"or", -6},
        {"\xE2\x96\x81w", -7},
        {"\xE2\x96\x81wor", -8},
        {"ld", -9},
        {"aa", -1},  // ties between overlapping pairs: the leftmost wins
        {"ab", -5},
        {"bc", -1.5},
        {"<sep>", 0, TokenType::kUserDefined},
    };
}

class SpmTokenizerTest : public ::testing::Test {
  protected:
    void SetUp() override { tok_ = make_spm_tokenizer(make_vocab(base_pieces())); }

    TokenId id(const std::string& piece) const {
        const auto& tokens = tok_->vocab().tokens;
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (tokens[i] == piece) return static_cast<TokenId>(i);
        }
        ADD_FAILURE() << "no piece " << piece;
        return -1;
    }

    std::vector<TokenId> enc(const std::string& text, bool add_bos = false,
                             bool parse_special = false) const {
        return tok_->encode(text, add_bos, parse_special);
    }

    std::unique_ptr<Tokenizer> tok_;
};

const std::string kS = "\xE2\x96\x81";  // ▁

TEST_F(SpmTokenizerTest, MergesByScore) {
    // ▁ h e l l o ▁ w o r l d: ll, he, llo, ▁he, ▁hello, or, ▁w, ▁wor, ld.
    EXPECT_EQ(enc("hello world"),
              (std::vector<TokenId>{id(kS + "hello"), id(kS + "wor"), id("ld")}));
    EXPECT_EQ(enc("hello"), (std::vector<TokenId>{id(kS + "hello")}));
    // "bc" (-1.5) beats "ab" (-5) although "ab" is further left.
    EXPECT_EQ(enc("abc"), (std::vector<TokenId>{id(kS), id("a"), id("bc")}));
    EXPECT_EQ(enc("ab"), (std::vector<TokenId>{id(kS), id("ab")}));
}

TEST_F(SpmTokenizerTest, TiesGoToTheLeftmostPair) {
    EXPECT_EQ(enc("aaa"), (std::vector<TokenId>{id(kS), id("aa"), id("a")}));
    EXPECT_EQ(enc("aaaaa"), (std::vector<TokenId>{id(kS), id("aa"), id("aa"), id("a")}));
}

TEST_F(SpmTokenizerTest, ByteFallback) {
    // € = E2 82 AC is not in the vocabulary.
    EXPECT_EQ(enc("h\xE2\x82\xAC"),
              (std::vector<TokenId>{id(kS), id("h"), byte_id(0xE2), byte_id(0x82), byte_id(0xAC)}));
    // An emoji (U+1F600, F0 9F 98 80) and a character not in the vocabulary ('x').
    EXPECT_EQ(enc("\xF0\x9F\x98\x80x"),
              (std::vector<TokenId>{id(kS), byte_id(0xF0), byte_id(0x9F), byte_id(0x98),
                                    byte_id(0x80), byte_id('x')}));
    // Malformed UTF-8 stays one byte per symbol.
    EXPECT_EQ(enc("a\xFF"), (std::vector<TokenId>{id(kS), id("a"), byte_id(0xFF)}));
}

TEST_F(SpmTokenizerTest, SpacePrefixAndRunsOfSpaces) {
    EXPECT_EQ(enc("a"), (std::vector<TokenId>{id(kS), id("a")}));
    EXPECT_EQ(enc(" a"), (std::vector<TokenId>{id(kS), id(kS), id("a")}));
    EXPECT_EQ(enc("a  b"), (std::vector<TokenId>{id(kS), id("a"), id(kS), id(kS), id("b")}));
    EXPECT_EQ(enc("hello "), (std::vector<TokenId>{id(kS + "hello"), id(kS)}));
    EXPECT_EQ(enc("a\tb\n"),
              (std::vector<TokenId>{id(kS), id("a"), byte_id('\t'), id("b"), byte_id('\n')}));

    Vocabulary v = make_vocab(base_pieces());
    v.add_space_prefix = false;
    auto no_prefix = make_spm_tokenizer(v);
    EXPECT_EQ(no_prefix->encode("hello world", false),
              (std::vector<TokenId>{id("he"), id("llo"), id(kS + "wor"), id("ld")}));
    EXPECT_EQ(no_prefix->decode(no_prefix->encode(" hello", false)), " hello");
}

TEST_F(SpmTokenizerTest, EmptyStringAndBos) {
    EXPECT_TRUE(enc("").empty());
    EXPECT_EQ(enc("", true), (std::vector<TokenId>{kBos}));
    EXPECT_EQ(enc("hello", true), (std::vector<TokenId>{kBos, id(kS + "hello")}));
}

TEST_F(SpmTokenizerTest, ControlTokensNeedParseSpecial) {
    // As plain text "<s>" is three characters, none of them in the vocabulary.
    EXPECT_EQ(enc("<s>"), (std::vector<TokenId>{id(kS), byte_id('<'), byte_id('s'), byte_id('>')}));
    EXPECT_EQ(enc("<s>", false, true), (std::vector<TokenId>{kBos}));
    // Text after a special token gets the space prefix again (as llama.cpp).
    EXPECT_EQ(enc("<s>hello</s>", false, true),
              (std::vector<TokenId>{kBos, id(kS + "hello"), kEos}));
    EXPECT_EQ(enc("hello<s>", true, true), (std::vector<TokenId>{kBos, id(kS + "hello"), kBos}));
    // The unknown token is special too; a lone '<' is not.
    EXPECT_EQ(enc("<unk><", false, true), (std::vector<TokenId>{kUnk, id(kS), byte_id('<')}));
}

TEST_F(SpmTokenizerTest, UserDefinedTokensAreWholePieces) {
    EXPECT_EQ(enc("a<sep>b"), (std::vector<TokenId>{id(kS), id("a"), id("<sep>"), id("b")}));
    EXPECT_EQ(enc("<sep>"), (std::vector<TokenId>{id(kS), id("<sep>")}));
    EXPECT_EQ(tok_->decode(enc("a<sep>b")), "a<sep>b");
}

TEST_F(SpmTokenizerTest, DecodeRoundTrip) {
    for (const std::string text :
         {"", "hello world", " hello", "  a  ", "hello ", "\xE2\x82\xAC 5", "<s> x", "a\tb\nc",
          "\xF0\x9F\x98\x80\xF0\x9F\x98\x80", "a\xFF\xFE", "abc aaaa"}) {
        EXPECT_EQ(tok_->decode(enc(text)), text) << text;
        EXPECT_EQ(tok_->decode(enc(text, true)), text) << text;  // <s> decodes to ""
    }
    // A literal U+2581 in the text is indistinguishable from a space (as in sentencepiece).
    EXPECT_EQ(tok_->decode(enc("a\xE2\x96\x81"
                               "b")),
              "a b");
}

TEST_F(SpmTokenizerTest, TokenToPiece) {
    EXPECT_EQ(tok_->token_to_piece(id(kS + "hello")), " hello");
    EXPECT_EQ(tok_->token_to_piece(byte_id(0x41)), "A");
    EXPECT_EQ(tok_->token_to_piece(kBos), "");
    EXPECT_EQ(tok_->token_to_piece(id("ld")), "ld");
    EXPECT_THROW(tok_->token_to_piece(tok_->size()), ArgumentError);
    EXPECT_EQ(tok_->decode({kBos, id(kS + "hello"), id(kS + "wor"), id("ld"), kEos}),
              "hello world");
    // Only the first space marker is dropped.
    EXPECT_EQ(tok_->decode({id(kS), id(kS + "hello")}), " hello");
}

TEST_F(SpmTokenizerTest, UnusedPiecesAreSplitBack) {
    std::vector<Piece> pieces = base_pieces();
    pieces.push_back({"x", -30});
    pieces.push_back({"y", -31});
    pieces.push_back({"z", -32});
    pieces.push_back({"xy", -0.5, TokenType::kUnused});
    pieces.push_back({"xyz", -0.6});
    auto tok = make_spm_tokenizer(make_vocab(pieces));
    const auto& tokens = tok->vocab().tokens;
    auto pid = [&](const std::string& p) {
        return static_cast<TokenId>(std::find(tokens.begin(), tokens.end(), p) - tokens.begin());
    };
    EXPECT_EQ(tok->encode("xy", false), (std::vector<TokenId>{pid(kS), pid("x"), pid("y")}));
    EXPECT_EQ(tok->encode("xyz", false), (std::vector<TokenId>{pid(kS), pid("xyz")}));
}

TEST_F(SpmTokenizerTest, WithoutByteTokensUnknownsCollapse) {
    auto tok = make_spm_tokenizer(make_vocab(base_pieces(), /*with_bytes=*/false));
    const TokenId space = tok->vocab().tokens[3] == kS ? 3 : -1;
    ASSERT_EQ(space, 3);
    const TokenId a = 3 + 8;  // "a" is the ninth piece
    EXPECT_EQ(tok->encode("a\xE2\x82\xAC\xE2\x82\xAC"
                          "a",
                          false),
              (std::vector<TokenId>{space, a, kUnk, a}));
}

TEST(SpmTokenizerValidation, RejectsBadVocabularies) {
    auto expect_error = [](Vocabulary v, const std::string& field) {
        try {
            make_spm_tokenizer(std::move(v));
            ADD_FAILURE() << "no FormatError for " << field;
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
        }
    };
    Vocabulary v = make_vocab(base_pieces());
    v.scores.pop_back();
    expect_error(v, "tokenizer.ggml.scores");

    v = make_vocab(base_pieces());
    v.types.push_back(TokenType::kNormal);
    expect_error(v, "tokenizer.ggml.token_type");

    v = make_vocab(base_pieces());
    v.bos = static_cast<TokenId>(v.tokens.size());
    expect_error(v, "tokenizer.ggml.bos_token_id");

    v = make_vocab(base_pieces());
    v.eos = -7;
    expect_error(v, "tokenizer.ggml.eos_token_id");

    v = make_vocab(base_pieces());
    v.types[kByte0 + 0x41] = TokenType::kNormal;  // <0x41> no longer a byte token
    expect_error(v, "<0x41>");

    v = make_vocab(base_pieces());
    v.tokens[kByte0 + 7] = "<0xZZ>";
    expect_error(v, "tokenizer.ggml.tokens");

    v = make_vocab(base_pieces());
    v.tokens[5] = "";
    expect_error(v, "tokenizer.ggml.tokens");

    v = make_vocab(base_pieces());
    v.model = "gpt2";
    expect_error(v, "tokenizer.ggml.model");

    v = make_vocab(base_pieces(), /*with_bytes=*/false);
    v.unk = -1;
    v.types[kUnk] = TokenType::kControl;
    expect_error(v, "tokenizer.ggml.unknown_token_id");

    v = Vocabulary{};
    v.model = "llama";
    expect_error(v, "tokenizer.ggml.tokens");
}

}  // namespace
}  // namespace edgelm
