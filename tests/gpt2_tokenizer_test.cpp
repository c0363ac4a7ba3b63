// GPT-2 byte-level BPE: UTF-8 and Unicode classes, the pre-tokenizer regex, merging by
// rank, special tokens and vocabulary validation, on a small vocabulary built here.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace edgelm {
namespace {

using Ids = std::vector<TokenId>;
using Pieces = std::vector<std::string>;

// ---------------------------------------------------------------- UTF-8 and classes

std::string hex(char32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
}

TEST(Unicode, DecodesWellFormedSequences) {
    EXPECT_EQ(unicode::decode_utf8("A", 0).cp, U'A');
    const unicode::Utf8Unit e = unicode::decode_utf8("x\xC3\xA9", 1);
    EXPECT_EQ(e.cp, 0xE9u);
    EXPECT_EQ(e.len, 2u);
    const unicode::Utf8Unit euro = unicode::decode_utf8("\xE2\x82\xAC", 0);
    EXPECT_EQ(euro.cp, 0x20ACu);
    EXPECT_EQ(euro.len, 3u);
    const unicode::Utf8Unit thumb = unicode::decode_utf8("\xF0\x9F\x91\x8D", 0);
    EXPECT_EQ(thumb.cp, 0x1F44Du);
    EXPECT_EQ(thumb.len, 4u);
    const unicode::Utf8Unit max = unicode::decode_utf8("\xF4\x8F\xBF\xBF", 0);
    EXPECT_EQ(max.cp, 0x10FFFFu);
    EXPECT_EQ(max.len, 4u);
}

TEST(Unicode, EachInvalidByteIsItsOwnUnit) {
    const std::string bad[] = {
        "\x80",              // lone continuation byte
        "\xC0\xAF",          // overlong '/'
        "\xE0\x80\x80",      // overlong NUL
        "\xED\xA0\x80",      // surrogate U+D800
        "\xF4\x90\x80\x80",  // U+110000
        "\xF5\x80\x80\x80",  // lead byte past F4
        "\xFF",
        "\xE2\x82",  // truncated euro sign
        "\xC3"
        "A",  // lead byte followed by a non-continuation
    };
    for (const std::string& s : bad) {
        const unicode::Utf8Unit u = unicode::decode_utf8(s, 0);
        EXPECT_EQ(u.cp, unicode::kInvalid) << testing::PrintToString(s);
        EXPECT_EQ(u.len, 1u) << testing::PrintToString(s);
    }
    EXPECT_EQ(unicode::decode_utf8_all("a\xFF\xC3\xA9\xE2\x82"),
              (std::vector<char32_t>{U'a', unicode::kInvalid, 0xE9, unicode::kInvalid,
                                     unicode::kInvalid}));
}

TEST(Unicode, EncodesCodePoints) {
    EXPECT_EQ(unicode::encode_utf8(0x7F), "\x7F");
    EXPECT_EQ(unicode::encode_utf8(0x80), "\xC2\x80");
    EXPECT_EQ(unicode::encode_utf8(0x7FF), "\xDF\xBF");
    EXPECT_EQ(unicode::encode_utf8(0x800), "\xE0\xA0\x80");
    EXPECT_EQ(unicode::encode_utf8(0xFFFF), "\xEF\xBF\xBF");
    EXPECT_EQ(unicode::encode_utf8(0x10000), "\xF0\x90\x80\x80");
    EXPECT_EQ(unicode::encode_utf8(0x10FFFF), "\xF4\x8F\xBF\xBF");
    EXPECT_EQ(unicode::encode_utf8(0xD800), "\xEF\xBF\xBD");    // surrogate -> U+FFFD
    EXPECT_EQ(unicode::encode_utf8(0x110000), "\xEF\xBF\xBD");  // too large -> U+FFFD
    for (char32_t cp : {0x41u, 0xE9u, 0x4E2Du, 0x1F44Du, 0x10FFFFu}) {
        const std::string s = unicode::encode_utf8(cp);
        EXPECT_EQ(unicode::decode_utf8(s, 0).cp, cp);
        EXPECT_EQ(unicode::decode_utf8(s, 0).len, s.size());
    }
}

TEST(Unicode, Categories) {
    // \p{L}: Latin, Greek, Cyrillic, CJK (BMP and astral), Hangul, kana, modifier letters.
    for (char32_t cp : {U'A', U'z', U'é', U'ß', U'Ω', U'ж', U'中', U'ア', U'ー', U'한',
                        char32_t{0x20000}, char32_t{0x2A6DF}, char32_t{0x02B0}}) {
        EXPECT_TRUE(unicode::is_letter(cp)) << hex(cp);
        EXPECT_EQ(unicode::classify(cp), unicode::CharClass::kLetter) << hex(cp);
    }
    // Not letters: digits, '_', emoji, skin tones, ZWJ, combining marks, '@', '[', '`'.
    for (char32_t cp : {U'1', U'_', U'@', U'[', U'`', char32_t{0x1F44D}, char32_t{0x1F3FD},
                        char32_t{0x200D}, char32_t{0x0301}, char32_t{0x094D}, char32_t{0xFE0F},
                        char32_t{0x10FFFF}, unicode::kInvalid}) {
        EXPECT_FALSE(unicode::is_letter(cp)) << hex(cp);
    }
    // \p{N}: Nd (ASCII, Arabic-Indic, astral math digits), Nl (Roman numerals), No (½, ²).
    for (char32_t cp : {U'0', U'9', char32_t{0x0661}, char32_t{0x1D7CE}, char32_t{0x2167},
                        char32_t{0x00BD}, char32_t{0x00B2}}) {
        EXPECT_TRUE(unicode::is_number(cp)) << hex(cp);
        EXPECT_EQ(unicode::classify(cp), unicode::CharClass::kNumber) << hex(cp);
    }
    for (char32_t cp : {U'a', U'.', U'中', unicode::kInvalid}) EXPECT_FALSE(unicode::is_number(cp));
    // \s: the White_Space property.
    for (char32_t cp : {U' ', U'\t', U'\n', U'\v', U'\f', U'\r', char32_t{0x85}, char32_t{0xA0},
                        char32_t{0x1680}, char32_t{0x2000}, char32_t{0x200A}, char32_t{0x2028},
                        char32_t{0x2029}, char32_t{0x202F}, char32_t{0x205F}, char32_t{0x3000}}) {
        EXPECT_TRUE(unicode::is_whitespace(cp)) << hex(cp);
        EXPECT_EQ(unicode::classify(cp), unicode::CharClass::kWhitespace) << hex(cp);
    }
    for (char32_t cp : {U'a', U'0', char32_t{0}, char32_t{0x1F}, char32_t{0x200B}, char32_t{0x180E},
                        char32_t{0xFEFF}, unicode::kInvalid}) {
        EXPECT_FALSE(unicode::is_whitespace(cp)) << hex(cp);
    }
    for (char32_t cp :
         {U'!', U'\'', U'€', char32_t{0x1F44D}, char32_t{0x0301}, unicode::kInvalid}) {
        EXPECT_EQ(unicode::classify(cp), unicode::CharClass::kOther) << hex(cp);
    }
}

// ---------------------------------------------------------------- pre-tokenizer

Pieces split(std::string_view text) {
    std::vector<std::string_view> views;
    unicode::gpt2_pretokenize(text, views);
    return Pieces(views.begin(), views.end());
}

// Strings exercised by both the split and the round-trip tests.
const std::vector<std::pair<std::string, Pieces>>& split_cases() {
    static const std::vector<std::pair<std::string, Pieces>> cases = {
        {"", {}},
        {"Hello world", {"Hello", " world"}},
        // Contractions: lower-case only, an ASCII apostrophe; others are punctuation.
        {"I'll", {"I", "'ll"}},
        {"don't", {"don", "'t"}},
        {"we're they've I'm he'd it's",
         {"we", "'re", " they", "'ve", " I", "'m", " he", "'d", " it", "'s"}},
        {"I'LL 'RE", {"I", "'", "LL", " '", "RE"}},
        {"IT'S 'T 'D 'M 'VE", {"IT", "'", "S", " '", "T", " '", "D", " '", "M", " '", "VE"}},
        {"' era", {"'", " era"}},
        {"?'s x's", {"?'", "s", " x", "'s"}},
        {"y'all", {"y", "'", "all"}},
        {"'''s", {"'''", "s"}},
        // Letters beyond ASCII; combining marks are not letters.
        {"héllo wörld über", {"héllo", " wörld", " über"}},
        {"привет мир", {"привет", " мир"}},
        {"我想在apple工作", {"我想在apple工作"}},
        {"日本語のテキスト 한국어", {"日本語のテキスト", " 한국어"}},
        {"e\u0301t\u00e9", {"e", "\u0301", "té"}},
        {"नमस्ते", {"नमस", "्", "त", "े"}},
        // Whitespace runs: all but the last unit when something follows.
        {"a   b", {"a", "  ", " b"}},
        {"a  ", {"a", "  "}},
        {"trailing \n", {"trailing", " \n"}},
        {"\n\n", {"\n\n"}},
        {"\n\n\n", {"\n\n\n"}},
        {"\n\nHi", {"\n", "\n", "Hi"}},
        {"\tfoo\t\tbar", {"\t", "foo", "\t", "\t", "bar"}},
        {" \tx", {" ", "\t", "x"}},
        {"    Hello\n    Hello", {"   ", " Hello", "\n   ", " Hello"}},
        {"a\u3000b", {"a", "\u3000", "b"}},
        {"a\u00a0\u00a0b", {"a", "\u00a0", "\u00a0", "b"}},
        {"x \u00a0y", {"x", " ", "\u00a0", "y"}},
        {" ", {" "}},
        {"\r\n", {"\r\n"}},
        // Numbers.
        {"12345", {"12345"}},
        {"3.14", {"3", ".", "14"}},
        {"x2 42", {"x", "2", " 42"}},
        {"ied 4 ½ months", {"ied", " 4", " ½", " months"}},
        {"١٢٣ Ⅷ", {"١٢٣", " Ⅷ"}},
        // Emoji are neither letters nor numbers (nor are modifiers, ZWJ, VS16).
        {"👍🏽", {"👍🏽"}},
        {"hi 👍🏽!", {"hi", " 👍🏽!"}},
        {"\U0001F468\u200D\U0001F469\u200D\U0001F467ok",
         {"\U0001F468\u200D\U0001F469\u200D\U0001F467", "ok"}},
        {"🚀 (normal) 😶‍🌫️", {"🚀", " (", "normal", ")", " 😶‍🌫️"}},
        // Punctuation runs.
        {"Hello, world!!", {"Hello", ",", " world", "!!"}},
        {"(a)-[b]", {"(", "a", ")-[", "b", "]"}},
        {"...?! ''\"\"", {"...?!", " ''\"\""}},
        {" ------======= $", {" ------=======", " $"}},
        // Invalid UTF-8: each byte is its own unit of class "other".
        {"a\xFF\xFE"
         "b",
         {"a", "\xFF\xFE", "b"}},
        {" \x80x", {" \x80", "x"}},
        {"ab\xE9"
         "cd",
         {"ab", "\xE9", "cd"}},
        {"\xC3\xA9\xA9", {"\xC3\xA9", "\xA9"}},
        {"x\xED\xA0\x80 \xE2\x82", {"x", "\xED\xA0\x80", " \xE2\x82"}},
    };
    return cases;
}

TEST(Gpt2Pretokenize, SplitsLikeTheRegex) {
    for (const auto& [text, expected] : split_cases()) {
        EXPECT_EQ(split(text), expected) << testing::PrintToString(text);
    }
}

TEST(Gpt2Pretokenize, AppendsToOutput) {
    std::vector<std::string_view> out{"keep"};
    unicode::gpt2_pretokenize("a b", out);
    EXPECT_EQ(out, (std::vector<std::string_view>{"keep", "a", " b"}));
}

// ---------------------------------------------------------------- tokenizer

// GPT-2's bytes_to_unicode(), written out again here so the test does not trust the
// implementation's table; spot-checked against known symbols below.
std::string byte_symbol(int b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) return unicode::encode_utf8(static_cast<char32_t>(b));
    int n = 0;
    for (int i = 0; i < b; ++i) {
        const bool p =
            (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
        if (!p) ++n;
    }
    return unicode::encode_utf8(static_cast<char32_t>(0x100 + n));
}

TEST(Gpt2Alphabet, KnownSymbols) {
    EXPECT_EQ(byte_symbol(' '), "Ġ");
    EXPECT_EQ(byte_symbol('\n'), "Ċ");
    EXPECT_EQ(byte_symbol('\t'), "ĉ");
    EXPECT_EQ(byte_symbol(0x00), "Ā");
    EXPECT_EQ(byte_symbol(0x7F), "ġ");
    EXPECT_EQ(byte_symbol(0x80), "Ģ");
    EXPECT_EQ(byte_symbol(0xAD), "Ń");
    EXPECT_EQ(byte_symbol('a'), "a");
    EXPECT_EQ(byte_symbol(0xE9), "é");
}

// Token ids of the test vocabulary: ids 0..255 are the byte symbols in byte order (so
// an unmerged byte b has id b), then one token per merge below except "x y".
enum : TokenId {
    kGt = 256,   // Ġt      merge 0: "Ġ t"
    kHe,         // he      merge 1: "h e"
    kGthe,       // Ġthe    merge 2: "Ġt he"
    kLl,         // ll      merge 3: "l l"
    kApLl,       // 'll     merge 4: "' ll"
    kOn,         // on      merge 5: "o n"
    kDon,        // don     merge 6: "d on"
    kGG,         // ĠĠ      merge 7: "Ġ Ġ"
    kNlNl,       // ĊĊ      merge 8: "Ċ Ċ"
    k12,         // 12      merge 9: "1 2"
    k34,         // 34      merge 10: "3 4"
    k1234,       // 1234    merge 11: "12 34"
    kEacute,     // Ã©      merge 12: "Ã ©" (é)
    kCa,         // ca      merge 13: "c a"
    kCaf,        // caf     merge 14: "ca f"
    kCafe,       // café    merge 15: "caf Ã©"
    kAa,         // aa      merge 16: "a a"
    kBc,         // bc      merge 17: "b c"
    kAb,         // ab      merge 18: "a b" (ranks after "b c")
                 //         merge 19: "x y" (no token "xy")
    kPe,         // Ð¿      merge 20: "Ð ¿" (п)
    kEndOfText,  // <|endoftext|>, control
    kTool,       // <tool>, user-defined
    kVocabSize,
};

Vocabulary test_vocab() {
    Vocabulary v;
    v.model = "gpt2";
    for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_symbol(b));
    v.merges = {"Ġ t",  "h e",    "Ġt he", "l l", "' ll",  "o n", "d on",
                "Ġ Ġ",  "Ċ Ċ",    "1 2",   "3 4", "12 34", "Ã ©", "c a",
                "ca f", "caf Ã©", "a a",   "b c", "a b",   "x y", "Ð ¿"};
    for (const std::string& m : v.merges) {
        if (m == "x y") continue;
        const size_t sep = m.find(' ');
        v.tokens.push_back(m.substr(0, sep) + m.substr(sep + 1));
    }
    v.tokens.push_back("<|endoftext|>");
    v.tokens.push_back("<tool>");
    v.types.assign(v.tokens.size(), TokenType::kNormal);
    v.types[kEndOfText] = TokenType::kControl;
    v.types[kTool] = TokenType::kUserDefined;
    v.bos = v.eos = kEndOfText;
    return v;
}

class Gpt2TokenizerTest : public testing::Test {
  protected:
    std::unique_ptr<Tokenizer> tok = make_gpt2_tokenizer(test_vocab());
    Ids encode(std::string_view text) const { return tok->encode(text, false); }
};

TEST_F(Gpt2TokenizerTest, VocabularyIsAsBuilt) {
    ASSERT_EQ(tok->size(), kVocabSize);
    EXPECT_EQ(tok->vocab().tokens[kGthe], "Ġthe");
    EXPECT_EQ(tok->vocab().tokens[kCafe], "cafÃ©");  // byte-level form of "café"
    EXPECT_EQ(tok->vocab().tokens[kPe], "Ð¿");
}

TEST_F(Gpt2TokenizerTest, BytesWithoutMergesAreByteIds) {
    EXPECT_EQ(encode("a"), (Ids{97}));
    EXPECT_EQ(encode(" "), (Ids{32}));
    EXPECT_EQ(encode("\n"), (Ids{10}));
    EXPECT_EQ(encode("ü"), (Ids{0xC3, 0xBC}));
    EXPECT_EQ(encode("中文"), (Ids{0xE4, 0xB8, 0xAD, 0xE6, 0x96, 0x87}));
    EXPECT_EQ(encode("👍🏽"), (Ids{0xF0, 0x9F, 0x91, 0x8D, 0xF0, 0x9F, 0x8F, 0xBD}));
    EXPECT_EQ(encode("\U0001F468\u200D\U0001F469"),
              (Ids{0xF0, 0x9F, 0x91, 0xA8, 0xE2, 0x80, 0x8D, 0xF0, 0x9F, 0x91, 0xA9}));
    EXPECT_EQ(encode("a\xFF"
                     "b\x80"),
              (Ids{97, 0xFF, 98, 0x80}));
    EXPECT_TRUE(encode("").empty());
}

TEST_F(Gpt2TokenizerTest, MergesByRank) {
    EXPECT_EQ(encode(" the"), (Ids{kGthe}));
    EXPECT_EQ(encode("the"), (Ids{'t', kHe}));  // no "t he" merge
    EXPECT_EQ(encode("abc"), (Ids{'a', kBc}));  // "b c" ranks before "a b"
    EXPECT_EQ(encode("abd"), (Ids{kAb, 'd'}));
    EXPECT_EQ(encode("aaa"), (Ids{kAa, 'a'}));  // equal ranks merge leftmost first
    EXPECT_EQ(encode("aaaa"), (Ids{kAa, kAa}));
    EXPECT_EQ(encode("café"), (Ids{kCafe}));
    EXPECT_EQ(encode("cafés"), (Ids{kCafe, 's'}));
    EXPECT_EQ(encode(" café"), (Ids{' ', kCafe}));  // no "Ġ c" / "Ġ café" merge
    EXPECT_EQ(encode("é"), (Ids{kEacute}));
    EXPECT_EQ(encode("привет мир"), (Ids{kPe, 0xD1, 0x80, 0xD0, 0xB8, 0xD0, 0xB2, 0xD0, 0xB5, 0xD1,
                                         0x82, ' ', 0xD0, 0xBC, 0xD0, 0xB8, 0xD1, 0x80}));
    EXPECT_EQ(encode("xy"), (Ids{'x', 'y'}));  // merged symbol not in vocab: its bytes
}

TEST_F(Gpt2TokenizerTest, MergesStopAtPreTokenBoundaries) {
    EXPECT_EQ(encode("I'll"), (Ids{'I', kApLl}));
    EXPECT_EQ(encode("don't"), (Ids{kDon, '\'', 't'}));
    EXPECT_EQ(encode("I'll the"), (Ids{'I', kApLl, kGthe}));
    EXPECT_EQ(encode("a   b"), (Ids{'a', kGG, ' ', 'b'}));
    EXPECT_EQ(encode("a  "), (Ids{'a', kGG}));
    EXPECT_EQ(encode("a   "), (Ids{'a', kGG, ' '}));
    EXPECT_EQ(encode("\n\n"), (Ids{kNlNl}));
    EXPECT_EQ(encode("\n\n\n"), (Ids{kNlNl, '\n'}));
    EXPECT_EQ(encode("\n\nthe"), (Ids{'\n', '\n', 't', kHe}));
    EXPECT_EQ(encode("\t\tx"), (Ids{'\t', '\t', 'x'}));
    EXPECT_EQ(encode("12345"), (Ids{k1234, '5'}));
    EXPECT_EQ(encode(" 1234"), (Ids{' ', k1234}));
    EXPECT_EQ(encode("cab"), (Ids{kCa, 'b'}));  // "c a" ranks before "a b"
    EXPECT_EQ(encode("3.14"), (Ids{'3', '.', '1', '4'}));
    EXPECT_EQ(encode("12 34"), (Ids{k12, ' ', k34}));  // no "12 Ġ" / "Ġ 34" merge
    EXPECT_EQ(encode("x the"), (Ids{'x', kGthe}));
    EXPECT_EQ(encode("x\tthe"), (Ids{'x', '\t', 't', kHe}));  // only ' ' joins a word
}

TEST_F(Gpt2TokenizerTest, LongPiecesMergeInLinearishTime) {
    const std::string text(200001, 'a');
    const Ids ids = encode(text);
    ASSERT_EQ(ids.size(), 100001u);
    for (size_t i = 0; i + 1 < ids.size(); ++i) ASSERT_EQ(ids[i], kAa) << i;
    EXPECT_EQ(ids.back(), 'a');
    EXPECT_EQ(tok->decode(ids), text);
}

TEST_F(Gpt2TokenizerTest, SpecialTokensOnlyWhenParsed) {
    const Ids plain = {'<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>'};
    EXPECT_EQ(tok->encode("<|endoftext|>", false, false), plain);
    EXPECT_EQ(tok->encode("<|endoftext|>", false, true), (Ids{kEndOfText}));
    EXPECT_EQ(tok->encode("a<|endoftext|> the", false, true), (Ids{'a', kEndOfText, kGthe}));
    EXPECT_EQ(tok->encode("<tool>x<tool>", false, true), (Ids{kTool, 'x', kTool}));
    EXPECT_EQ(tok->encode("<tool>", false, false), (Ids{'<', 't', 'o', 'o', 'l', '>'}));
    EXPECT_EQ(tok->encode("<|endoftext", false, true),
              (Ids{'<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't'}));
}

TEST_F(Gpt2TokenizerTest, AddBos) {
    EXPECT_EQ(tok->encode("a", true), (Ids{kEndOfText, 'a'}));
    EXPECT_EQ(tok->encode("", true), (Ids{kEndOfText}));
    Vocabulary v = test_vocab();
    v.bos = -1;
    EXPECT_EQ(make_gpt2_tokenizer(std::move(v))->encode("a", true), (Ids{'a'}));
}

TEST_F(Gpt2TokenizerTest, TokenToPiece) {
    EXPECT_EQ(tok->token_to_piece(kGthe), " the");
    EXPECT_EQ(tok->token_to_piece(' '), " ");
    EXPECT_EQ(tok->token_to_piece(kNlNl), "\n\n");
    EXPECT_EQ(tok->token_to_piece(kCafe), "café");
    EXPECT_EQ(tok->token_to_piece(0xFF), "\xFF");
    EXPECT_EQ(tok->token_to_piece(kEndOfText), "");
    EXPECT_EQ(tok->token_to_piece(kTool), "<tool>");
    EXPECT_THROW(tok->token_to_piece(-1), ArgumentError);
    EXPECT_THROW(tok->token_to_piece(kVocabSize), ArgumentError);
    EXPECT_EQ(tok->decode({'a', kEndOfText, kGthe, kTool}), "a the<tool>");
}

TEST_F(Gpt2TokenizerTest, DecodeInvertsEncode) {
    for (const auto& [text, pieces] : split_cases()) {
        const Ids ids = encode(text);
        EXPECT_EQ(tok->decode(ids), text) << testing::PrintToString(text);
        // Special-token parsing changes nothing when none are written.
        EXPECT_EQ(tok->encode(text, false, true), ids) << testing::PrintToString(text);
    }
    const std::string with_specials = "x <tool> y";
    EXPECT_EQ(tok->decode(tok->encode(with_specials, false, true)), with_specials);
}

// ---------------------------------------------------------------- validation

std::string format_error(Vocabulary v) {
    try {
        make_gpt2_tokenizer(std::move(v));
    } catch (const FormatError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Gpt2Validation, RejectsMalformedVocabularies) {
    Vocabulary v = test_vocab();
    v.types.pop_back();
    EXPECT_EQ(format_error(v), "tokenizer.ggml.token_type: 277 entries for 278 tokens");

    v = test_vocab();
    v.types[3] = static_cast<TokenType>(42);
    EXPECT_EQ(format_error(v), "tokenizer.ggml.token_type[3]: unknown type 42");

    v = test_vocab();
    v.scores.assign(5, 0.0f);
    EXPECT_EQ(format_error(v), "tokenizer.ggml.scores: 5 entries for 278 tokens");

    for (const std::string bad : {"ab", "a b c", " a", "a ", "a  b", ""}) {
        v = test_vocab();
        v.merges[12] = bad;
        EXPECT_EQ(format_error(v),
                  "tokenizer.ggml.merges[12]: expected two space-separated "
                  "parts, got \"" +
                      bad + "\"");
    }

    v = test_vocab();
    v.bos = kVocabSize;
    EXPECT_EQ(format_error(v), "tokenizer.ggml.bos_token_id: 278 is out of range [0, 278)");
    v = test_vocab();
    v.eos = -2;
    EXPECT_EQ(format_error(v), "tokenizer.ggml.eos_token_id: -2 is out of range [0, 278)");
    v = test_vocab();
    v.unk = 1000;
    EXPECT_EQ(format_error(v), "tokenizer.ggml.unknown_token_id: 1000 is out of range [0, 278)");
    v = test_vocab();
    v.pad = 278;
    EXPECT_EQ(format_error(v), "tokenizer.ggml.padding_token_id: 278 is out of range [0, 278)");

    v = test_vocab();
    v.model = "llama";
    EXPECT_EQ(format_error(v), "tokenizer.ggml.model: expected \"gpt2\", got \"llama\"");

    v = test_vocab();
    v.tokens.clear();
    v.types.clear();
    v.bos = v.eos = -1;
    EXPECT_EQ(format_error(v), "tokenizer.ggml.tokens: empty");
}

TEST(Gpt2Validation, AcceptsOptionalParts) {
    Vocabulary v = test_vocab();
    v.types.clear();  // tokenizer.ggml.token_type is optional: all normal
    v.merges.clear();
    v.bos = v.eos = v.unk = v.pad = -1;
    const auto tok = make_gpt2_tokenizer(std::move(v));
    EXPECT_EQ(tok->encode(" the", true), (Ids{' ', 't', 'h', 'e'}));
    // Without types "<|endoftext|>" is a normal token, never matched as text, and
    // decodes to its text.
    EXPECT_EQ(tok->decode({kEndOfText}), "<|endoftext|>");
}

TEST(Gpt2Validation, MissingByteSymbolFallsBackToUnk) {
    Vocabulary v = test_vocab();
    v.tokens['q'] = "not-q";  // no token for the symbol of byte 'q'
    v.unk = kTool;
    EXPECT_EQ(make_gpt2_tokenizer(v)->encode("aqa", false), (Ids{'a', kTool, 'a'}));
    v.unk = -1;
    EXPECT_EQ(make_gpt2_tokenizer(v)->encode("aqa", false), (Ids{'a', 'a'}));
}

}  // namespace
}  // namespace edgelm
