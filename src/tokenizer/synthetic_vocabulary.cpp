#include "tokenizer/synthetic_vocabulary.h"

#include <cstdio>
#include <string>
#include <unordered_set>

#include "core/error.h"

namespace edgelm {

Vocabulary make_synthetic_spm_vocabulary(int size) {
    if (size < 259)
        throw ArgumentError("vocabulary size " + std::to_string(size) +
                            " is too small: a byte-fallback vocabulary needs at least 259 tokens");
    Vocabulary v;
    v.model = "llama";
    auto add = [&](std::string piece, float score, TokenType type) {
        v.tokens.push_back(std::move(piece));
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0.0f, TokenType::kUnknown);
    add("<s>", 0.0f, TokenType::kControl);
    add("</s>", 0.0f, TokenType::kControl);
    v.unk = 0;
    v.bos = 1;
    v.eos = 2;
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        add(name, 0.0f, TokenType::kByte);
    }
    // Alphabet of the generated pieces: the word-start marker, letters, digits and
    // punctuation; longer pieces only over "▁" + lowercase letters.
    const std::string marker = "\xE2\x96\x81";  // U+2581
    std::vector<std::string> singles = {marker};
    for (char ch = 'a'; ch <= 'z'; ++ch) singles.emplace_back(1, ch);
    for (char ch = 'A'; ch <= 'Z'; ++ch) singles.emplace_back(1, ch);
    for (char ch = '0'; ch <= '9'; ++ch) singles.emplace_back(1, ch);
    for (char ch : std::string(".,;:!?'\"()-_/&%$#@*+=<>[]{}|\\~`^")) singles.emplace_back(1, ch);
    std::vector<std::string> letters = {marker};
    for (char ch = 'a'; ch <= 'z'; ++ch) letters.emplace_back(1, ch);

    std::unordered_set<std::string> seen;
    float score = -1.0f;
    std::vector<std::string> level;
    for (const auto& s : singles) {
        if (static_cast<int>(v.tokens.size()) == size) return v;
        add(s, score, TokenType::kNormal);
        score -= 1.0f;
        seen.insert(s);
    }
    level = letters;
    while (static_cast<int>(v.tokens.size()) < size) {
        std::vector<std::string> next;
        for (const auto& prefix : level) {
            for (const auto& ch : letters) {
                if (ch == marker) continue;  // "▁" only starts a piece
                std::string piece = prefix + ch;
                if (!seen.insert(piece).second) continue;
                next.push_back(piece);
                add(piece, score, TokenType::kNormal);
                score -= 1.0f;
                if (static_cast<int>(v.tokens.size()) == size) return v;
            }
        }
        level = std::move(next);
    }
    return v;
}

}  // namespace edgelm
