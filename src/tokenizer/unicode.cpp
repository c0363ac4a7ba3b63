#include "tokenizer/unicode.h"

#include <algorithm>
#include <iterator>

namespace edgelm::unicode {

namespace {

struct CodePointRange {
    char32_t first, last;  // inclusive
};

#include "tokenizer/unicode_tables.inc"

bool in_ranges(const CodePointRange* begin, const CodePointRange* end, char32_t cp) {
    // The first range whose last >= cp; cp is in the table iff that range starts <= cp.
    const CodePointRange* it = std::lower_bound(
        begin, end, cp, [](const CodePointRange& r, char32_t c) { return r.last < c; });
    return it != end && it->first <= cp;
}

bool is_continuation(unsigned char b) {
    return (b & 0xC0) == 0x80;
}

}  // namespace

Utf8Unit decode_utf8(std::string_view text, size_t pos) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
    const unsigned char b0 = byte(0);
    const size_t avail = text.size() - pos;
    if (b0 < 0x80) return {b0, 1};
    const Utf8Unit invalid{kInvalid, 1};
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (avail < 2 || !is_continuation(byte(1))) return invalid;
        return {static_cast<char32_t>(((b0 & 0x1Fu) << 6) | (byte(1) & 0x3Fu)), 2};
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (avail < 3) return invalid;
        const unsigned char b1 = byte(1);
        // E0 needs A0..BF (no overlongs), ED needs 80..9F (no surrogates).
        const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
        const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
        if (b1 < lo || b1 > hi || !is_continuation(byte(2))) return invalid;
        return {
            static_cast<char32_t>(((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (byte(2) & 0x3Fu)),
            3};
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (avail < 4) return invalid;
        const unsigned char b1 = byte(1);
        // F0 needs 90..BF (no overlongs), F4 needs 80..8F (nothing above U+10FFFF).
        const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
        const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (b1 < lo || b1 > hi || !is_continuation(byte(2)) || !is_continuation(byte(3))) {
            return invalid;
        }
        return {static_cast<char32_t>(((b0 & 0x07u) << 18) | ((b1 & 0x3Fu) << 12) |
                                      ((byte(2) & 0x3Fu) << 6) | (byte(3) & 0x3Fu)),
                4};
    }
    return invalid;  // a continuation byte, C0/C1, or F5..FF
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string encode_utf8(char32_t cp) {
    std::string out;
    append_utf8(out, cp);
    return out;
}

std::vector<char32_t> decode_utf8_all(std::string_view text) {
    std::vector<char32_t> out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const Utf8Unit u = decode_utf8(text, pos);
        out.push_back(u.cp);
        pos += u.len;
    }
    return out;
}

bool is_letter(char32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return in_ranges(std::begin(kLetterRanges), std::end(kLetterRanges), cp);
}

bool is_number(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(std::begin(kNumberRanges), std::end(kNumberRanges), cp);
}

bool is_whitespace(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r');
    return in_ranges(std::begin(kWhitespaceRanges), std::end(kWhitespaceRanges), cp);
}

CharClass classify(char32_t cp) {
    if (is_letter(cp)) return CharClass::kLetter;
    if (is_number(cp)) return CharClass::kNumber;
    if (is_whitespace(cp)) return CharClass::kWhitespace;
    return CharClass::kOther;
}

namespace {

struct ClassifiedUnit {
    CharClass cls;
    uint32_t len;
};

ClassifiedUnit unit_at(std::string_view text, size_t pos) {
    const Utf8Unit u = decode_utf8(text, pos);
    return {classify(u.cp), u.len};
}

// Length of 's|'t|'re|'ve|'m|'ll|'d at pos (case-sensitive, ASCII apostrophe), or 0.
size_t contraction_length(std::string_view text, size_t pos) {
    if (text[pos] != '\'' || pos + 1 >= text.size()) return 0;
    const char c1 = text[pos + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (pos + 2 >= text.size()) return 0;
    const char c2 = text[pos + 2];
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
        return 3;
    }
    return 0;
}

// The end of the run of units of class `cls` starting at pos.
size_t run_end(std::string_view text, size_t pos, CharClass cls) {
    while (pos < text.size()) {
        const ClassifiedUnit u = unit_at(text, pos);
        if (u.cls != cls) break;
        pos += u.len;
    }
    return pos;
}

}  // namespace

void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>& out) {
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = pos;
        if (const size_t n = contraction_length(text, pos); n > 0) {
            out.push_back(text.substr(start, n));
            pos += n;
            continue;
        }
        const ClassifiedUnit first = unit_at(text, pos);
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a
        // run of one class. A space followed by whitespace (or nothing) matches none.
        CharClass cls = first.cls;
        size_t run_start = pos;
        if (text[pos] == ' ' && pos + 1 < text.size()) {
            const ClassifiedUnit next = unit_at(text, pos + 1);
            if (next.cls != CharClass::kWhitespace) {
                cls = next.cls;
                run_start = pos + 1;
            }
        }
        if (cls != CharClass::kWhitespace) {
            pos = run_end(text, run_start, cls);
            out.push_back(text.substr(start, pos - start));
            continue;
        }
        // `\s+(?!\S)|\s+`: the whole whitespace run if it ends the text; otherwise all
        // but its last unit (which may then start ` ?\p{L}+` etc.), unless that leaves
        // nothing, in which case the single unit.
        size_t last_unit = pos;
        size_t end = pos;
        while (end < text.size()) {
            const ClassifiedUnit u = unit_at(text, end);
            if (u.cls != CharClass::kWhitespace) break;
            last_unit = end;
            end += u.len;
        }
        if (end < text.size() && last_unit > start) end = last_unit;
        out.push_back(text.substr(start, end - start));
        pos = end;
    }
}

}  // namespace edgelm::unicode
