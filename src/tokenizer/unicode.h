// UTF-8 decoding and encoding of code points, the Unicode categories that tokenizer
// pre-splitting needs (\p{L}, \p{N}, \s), and the GPT-2 pre-tokenizer built on them.
// Tables come from scripts/gen_unicode_tables.py (Unicode 15.0); no ICU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgelm::unicode {

// The code point reported for a byte that does not start a valid UTF-8 sequence.
inline constexpr char32_t kInvalid = 0xFFFFFFFF;
inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

// One unit of UTF-8 text: a well-formed sequence (cp = its code point, len = 1..4), or
// a single byte that is not (cp = kInvalid, len = 1). Overlong forms, surrogates, code
// points above U+10FFFF and truncated sequences are invalid, one byte at a time.
struct Utf8Unit {
    char32_t cp;
    uint32_t len;
};

// Decodes the unit starting at byte `pos` (< text.size()).
Utf8Unit decode_utf8(std::string_view text, size_t pos);

// Appends the UTF-8 form of `cp`; invalid code points (surrogates, > U+10FFFF) become
// U+FFFD.
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(char32_t cp);

// All units of `text`, in order; invalid bytes come out as kInvalid.
std::vector<char32_t> decode_utf8_all(std::string_view text);

bool is_letter(char32_t cp);      // \p{L}: Lu Ll Lt Lm Lo
bool is_number(char32_t cp);      // \p{N}: Nd Nl No
bool is_whitespace(char32_t cp);  // \s: the White_Space property (as Oniguruma / PCRE2 UCP)

// The class of a unit for the pre-tokenizer regexes. kInvalid is kOther.
enum class CharClass : uint8_t { kLetter, kNumber, kWhitespace, kOther };
CharClass classify(char32_t cp);

// Splits text as GPT-2's pre-tokenizer regex does (leftmost alternative wins):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// The pieces are non-empty, in order, and concatenate to `text` exactly. Invalid UTF-8
// bytes count as [^\s\p{L}\p{N}]. Appends to `out` (not cleared).
void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>& out);

}  // namespace edgelm::unicode
