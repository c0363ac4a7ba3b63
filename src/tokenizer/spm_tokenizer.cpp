// SentencePiece BPE with byte fallback (GGUF tokenizer.ggml.model = "llama").
//
// Encoding follows sentencepiece 0.1.97 (normalizer.cc with the identity rule,
// bpe_model.cc, SentencePieceProcessor::PopulateSentencePieceText):
//   * the text gets a leading U+2581 ("▁") when add_space_prefix is on, and every ' '
//     becomes "▁" (no other normalization: llama vocabularies are trained with the
//     identity rule and remove_extra_whitespaces=false);
//   * initial symbols are UTF-8 characters, except that user-defined tokens are matched
//     first (longest match) and never merged with their neighbours;
//   * the adjacent pair whose concatenation is a normal / user-defined / unused piece
//     with the highest score is merged, ties going to the leftmost pair; a priority
//     queue of candidate pairs over a linked list of symbols, stale entries skipped;
//   * merged unused pieces are split back into the pairs they were made of;
//   * a final symbol that is not a piece becomes its <0xNN> byte tokens, or, without
//     byte tokens, the unknown token (consecutive unknowns collapse into one).
// Deliberate differences: sentencepiece maps each byte of malformed UTF-8 to U+FFFD;
// here it stays a one-byte symbol (and so a byte token), which keeps
// decode(encode(x)) == x for any bytes. With parse_special, control (and unknown)
// tokens written in the text are split out first and each text fragment at the start
// or right after such a token gets the space prefix, as llama.cpp does.
//
// Decoding follows SentencePieceProcessor::Decode: "▁" -> ' ', byte tokens -> raw
// bytes, control tokens -> "", the unknown token -> " ⁇ ", and one leading "▁" is
// dropped from the first piece that produces text when add_space_prefix is on.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace edgelm {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";       // U+2581
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // sentencepiece's " ⁇ "

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
using PieceMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

// Length of the well-formed UTF-8 character at s[pos], or 1 for a byte that does not
// start one (stray continuation byte, bad lead byte, truncated or overlong sequence).
size_t utf8_char_len(std::string_view s, size_t pos) {
    const auto c0 = static_cast<unsigned char>(s[pos]);
    if (c0 < 0x80) return 1;
    size_t len = 0;
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        len = 2;
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
        len = 3;
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
        len = 4;
    } else {
        return 1;
    }
    if (pos + len > s.size()) return 1;
    for (size_t i = 1; i < len; ++i) {
        if ((static_cast<unsigned char>(s[pos + i]) & 0xC0) != 0x80) return 1;
    }
    const auto c1 = static_cast<unsigned char>(s[pos + 1]);
    if (c0 == 0xE0 && c1 < 0xA0) return 1;   // overlong
    if (c0 == 0xED && c1 >= 0xA0) return 1;  // surrogate
    if (c0 == 0xF0 && c1 < 0x90) return 1;   // overlong
    if (c0 == 0xF4 && c1 >= 0x90) return 1;  // above U+10FFFF
    return len;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// The byte a "<0xNN>" piece stands for, or -1.
int byte_of_piece(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
    const int hi = hex_value(piece[3]), lo = hex_value(piece[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

template <typename Children>
auto find_child(Children& children, unsigned char b) {
    return std::lower_bound(children.begin(), children.end(), b,
                            [](const auto& child, unsigned char x) { return child.first < x; });
}

// A byte trie for the longest-prefix match of a few pieces (user-defined tokens, and
// the special tokens for parse_special).
class PrefixTrie {
  public:
    bool empty() const { return nodes_.size() == 1; }

    void insert(std::string_view key, TokenId id) {
        int32_t node = 0;
        for (char c : key) {
            const auto b = static_cast<unsigned char>(c);
            auto& children = nodes_[node].children;
            auto it = find_child(children, b);
            if (it == children.end() || it->first != b) {
                const auto child = static_cast<int32_t>(nodes_.size());
                it = children.insert(it, {b, child});
                nodes_.emplace_back();
                node = child;
            } else {
                node = it->second;
            }
        }
        if (nodes_[node].id < 0) nodes_[node].id = id;  // the first of duplicates wins
    }

    // Length of the longest key that prefixes `text` (0 if none); its id in *id.
    size_t match(std::string_view text, TokenId* id) const {
        size_t best = 0;
        int32_t node = 0;
        for (size_t i = 0; i < text.size(); ++i) {
            const auto b = static_cast<unsigned char>(text[i]);
            const auto& children = nodes_[node].children;
            const auto it = find_child(children, b);
            if (it == children.end() || it->first != b) break;
            node = it->second;
            if (nodes_[node].id >= 0) {
                best = i + 1;
                if (id != nullptr) *id = nodes_[node].id;
            }
        }
        return best;
    }

  private:
    using Children = std::vector<std::pair<unsigned char, int32_t>>;
    struct Node {
        Children children;  // sorted by byte
        TokenId id = -1;
    };

    std::vector<Node> nodes_ = std::vector<Node>(1);
};

bool is_mergeable_type(TokenType t) {
    return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUnused ||
           t == TokenType::kUndefined;
}

class SpmTokenizer final : public Tokenizer {
  public:
    explicit SpmTokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) { validate_and_index(); }

    std::vector<TokenId> encode(std::string_view text, bool add_bos,
                                bool parse_special) const override {
        std::vector<TokenId> out;
        out.reserve(text.size() / 3 + 2);
        if (add_bos) {
            if (vocab_.bos < 0) {
                throw ArgumentError("encode: add_bos but the vocabulary has no BOS");
            }
            out.push_back(vocab_.bos);
        }
        if (!parse_special || specials_.empty()) {
            encode_fragment(text, vocab_.add_space_prefix, out);
            return out;
        }
        bool prev_special = true;  // a text fragment at the start gets the space prefix too
        size_t start = 0, pos = 0;
        while (pos < text.size()) {
            TokenId id = -1;
            const size_t len = specials_.match(text.substr(pos), &id);
            if (len == 0) {
                pos += utf8_char_len(text, pos);
                continue;
            }
            if (pos > start) {
                encode_fragment(text.substr(start, pos - start),
                                vocab_.add_space_prefix && prev_special, out);
            }
            out.push_back(id);
            prev_special = true;
            pos += len;
            start = pos;
        }
        if (start < text.size()) {
            encode_fragment(text.substr(start), vocab_.add_space_prefix && prev_special, out);
        }
        return out;
    }

    std::string token_to_piece(TokenId id) const override {
        check_id(id);
        switch (vocab_.types[static_cast<size_t>(id)]) {
            case TokenType::kControl:
                return {};
            case TokenType::kUnknown:
                return std::string(kUnknownSurface);
            case TokenType::kByte:
                return std::string(1, static_cast<char>(byte_of_piece(token(id))));
            default:
                return replace_space_symbol(token(id));
        }
    }

    std::string decode(const std::vector<TokenId>& ids) const override {
        std::string text;
        bool strip_space = vocab_.add_space_prefix;  // until a piece has produced text
        for (const TokenId id : ids) {
            check_id(id);
            const TokenType type = vocab_.types[static_cast<size_t>(id)];
            if (type == TokenType::kControl) continue;
            if (type == TokenType::kByte || type == TokenType::kUnknown) {
                text += token_to_piece(id);
                strip_space = false;
                continue;
            }
            std::string_view piece = token(id);
            if (strip_space && text.empty() && piece.starts_with(kSpaceSymbol)) {
                piece.remove_prefix(kSpaceSymbol.size());
            }
            strip_space = false;
            text += replace_space_symbol(piece);
        }
        return text;
    }

    const Vocabulary& vocab() const override { return vocab_; }

  private:
    struct Symbol {
        int32_t prev, next;
        uint32_t start, len;  // bytes of the normalized text; len 0 once merged away
        bool frozen;          // a user-defined token: never merged
    };

    struct Candidate {
        float score;
        int32_t left, right;
        uint32_t len;  // of the merged piece; a mismatch later means the entry is stale
    };

    // sentencepiece's SymbolPairComparator: highest score first, then leftmost.
    struct CandidateLess {
        bool operator()(const Candidate& a, const Candidate& b) const {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        }
    };

    using RevMerge =
        std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>;

    std::string_view token(TokenId id) const { return vocab_.tokens[static_cast<size_t>(id)]; }

    void check_id(TokenId id) const {
        if (id < 0 || id >= size()) {
            throw ArgumentError("token id " + std::to_string(id) + " out of range [0, " +
                                std::to_string(size()) + ")");
        }
    }

    static std::string replace_space_symbol(std::string_view piece) {
        std::string s;
        s.reserve(piece.size());
        size_t pos = 0;
        while (pos < piece.size()) {
            if (piece.substr(pos, kSpaceSymbol.size()) == kSpaceSymbol) {
                s += ' ';
                pos += kSpaceSymbol.size();
            } else {
                s += piece[pos++];
            }
        }
        return s;
    }

    [[noreturn]] static void fail(const std::string& field, const std::string& what) {
        throw FormatError("llama vocabulary: " + field + ": " + what);
    }

    void validate_and_index() {
        const Vocabulary& v = vocab_;
        if (v.model != "llama") fail("tokenizer.ggml.model", "'" + v.model + "' is not llama");
        const size_t n = v.tokens.size();
        if (n == 0) fail("tokenizer.ggml.tokens", "empty");
        if (n > static_cast<size_t>(INT32_MAX)) fail("tokenizer.ggml.tokens", "too many tokens");
        if (v.scores.size() != n) {
            fail("tokenizer.ggml.scores",
                 std::to_string(v.scores.size()) + " scores for " + std::to_string(n) + " tokens");
        }
        if (v.types.size() != n) {
            fail("tokenizer.ggml.token_type",
                 std::to_string(v.types.size()) + " types for " + std::to_string(n) + " tokens");
        }
        const std::pair<const char*, TokenId> specials[] = {
            {"tokenizer.ggml.bos_token_id", v.bos},
            {"tokenizer.ggml.eos_token_id", v.eos},
            {"tokenizer.ggml.unknown_token_id", v.unk},
            {"tokenizer.ggml.padding_token_id", v.pad},
        };
        for (const auto& [field, id] : specials) {
            if (id < -1 || id >= static_cast<TokenId>(n)) {
                fail(field, "id " + std::to_string(id) + " out of range for " + std::to_string(n) +
                                " tokens");
            }
        }

        byte_ids_.fill(-1);
        size_t byte_count = 0;
        pieces_.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            const auto id = static_cast<TokenId>(i);
            const std::string& piece = v.tokens[i];
            const TokenType type = v.types[i];
            if (piece.empty())
                fail("tokenizer.ggml.tokens", "token " + std::to_string(i) + " is empty");
            if (static_cast<int32_t>(type) < 0 || static_cast<int32_t>(type) > 6) {
                fail("tokenizer.ggml.token_type", "token " + std::to_string(i) + " has type " +
                                                      std::to_string(static_cast<int32_t>(type)));
            }
            if (is_mergeable_type(type)) {
                pieces_.emplace(piece, id);  // the first of duplicate pieces wins
                if (type == TokenType::kUserDefined) user_defined_.insert(piece, id);
                if (type == TokenType::kUnused) has_unused_ = true;
            } else if (type == TokenType::kByte) {
                const int b = byte_of_piece(piece);
                if (b < 0) {
                    fail("tokenizer.ggml.tokens",
                         "byte token " + std::to_string(i) + " '" + piece + "' is not <0xNN>");
                }
                if (byte_ids_[static_cast<size_t>(b)] < 0) {
                    byte_ids_[static_cast<size_t>(b)] = id;
                    ++byte_count;
                }
            } else {
                // Control and unknown tokens: written in the text only with parse_special.
                specials_.insert(piece, id);
                if (type == TokenType::kUnknown && unk_ < 0) unk_ = id;
            }
        }
        if (v.unk >= 0) unk_ = v.unk;
        if (byte_count != 0 && byte_count != 256) {
            size_t missing = 0;
            while (byte_ids_[missing] >= 0) ++missing;
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned>(missing));
            fail("tokenizer.ggml.tokens", "byte token " + std::string(name) + " missing (" +
                                              std::to_string(byte_count) + " of 256 present)");
        }
        has_bytes_ = byte_count == 256;
        if (!has_bytes_ && unk_ < 0) {
            fail("tokenizer.ggml.unknown_token_id", "no unknown token and no <0xNN> byte tokens");
        }
    }

    // Encodes one piece of text (no special tokens in it) and appends the ids.
    void encode_fragment(std::string_view text, bool space_prefix,
                         std::vector<TokenId>& out) const {
        if (text.empty()) return;

        // Normalize: optional leading "▁", every ' ' -> "▁".
        std::string norm;
        norm.reserve(text.size() + kSpaceSymbol.size() * 4);
        if (space_prefix) norm += kSpaceSymbol;
        for (char c : text) {
            if (c == ' ') {
                norm += kSpaceSymbol;
            } else {
                norm += c;
            }
        }
        if (norm.size() > UINT32_MAX / 2) throw ArgumentError("encode: text too long");
        const std::string_view s = norm;

        // Initial symbols: user-defined tokens (frozen), else single characters.
        std::vector<Symbol> symbols;
        symbols.reserve(s.size());
        for (size_t pos = 0; pos < s.size();) {
            size_t len = user_defined_.empty() ? 0 : user_defined_.match(s.substr(pos), nullptr);
            const bool frozen = len > 0;
            if (!frozen) len = utf8_char_len(s, pos);
            const auto index = static_cast<int32_t>(symbols.size());
            symbols.push_back({index - 1, pos + len < s.size() ? index + 1 : -1,
                               static_cast<uint32_t>(pos), static_cast<uint32_t>(len), frozen});
            pos += len;
        }

        std::priority_queue<Candidate, std::vector<Candidate>, CandidateLess> agenda;
        RevMerge rev_merge;
        auto piece_of = [&](const Symbol& sym) { return s.substr(sym.start, sym.len); };
        auto maybe_add = [&](int32_t left, int32_t right) {
            if (left < 0 || right < 0) return;
            const Symbol& l = symbols[static_cast<size_t>(left)];
            const Symbol& r = symbols[static_cast<size_t>(right)];
            if (l.frozen || r.frozen) return;
            const std::string_view merged = s.substr(l.start, l.len + r.len);
            const auto it = pieces_.find(merged);
            if (it == pieces_.end()) return;
            const auto id = static_cast<size_t>(it->second);
            agenda.push({vocab_.scores[id], left, right, l.len + r.len});
            if (vocab_.types[id] == TokenType::kUnused) {
                rev_merge[merged] = {piece_of(l), piece_of(r)};
            }
        };

        for (size_t i = 1; i < symbols.size(); ++i) {
            maybe_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
        }

        while (!agenda.empty()) {
            const Candidate top = agenda.top();
            agenda.pop();
            Symbol& l = symbols[static_cast<size_t>(top.left)];
            Symbol& r = symbols[static_cast<size_t>(top.right)];
            if (l.len == 0 || r.len == 0 || l.len + r.len != top.len) continue;  // stale
            l.len += r.len;
            l.next = r.next;
            if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = top.left;
            r.len = 0;
            maybe_add(l.prev, top.left);
            maybe_add(top.left, l.next);
        }

        bool prev_unknown = false;
        for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
            emit(piece_of(symbols[static_cast<size_t>(i)]), rev_merge, prev_unknown, out);
        }
    }

    // Appends the id(s) of one final symbol: unused pieces are split back into the
    // pair they were merged from; pieces not in the vocabulary become byte tokens.
    void emit(std::string_view piece, const RevMerge& rev_merge, bool& prev_unknown,
              std::vector<TokenId>& out) const {
        const auto it = pieces_.find(piece);
        if (it != pieces_.end()) {
            if (has_unused_ &&
                vocab_.types[static_cast<size_t>(it->second)] == TokenType::kUnused) {
                const auto split = rev_merge.find(piece);
                if (split != rev_merge.end()) {
                    emit(split->second.first, rev_merge, prev_unknown, out);
                    emit(split->second.second, rev_merge, prev_unknown, out);
                    return;
                }
            }
            out.push_back(it->second);
            prev_unknown = false;
            return;
        }
        if (has_bytes_) {
            for (char c : piece) out.push_back(byte_ids_[static_cast<unsigned char>(c)]);
            prev_unknown = false;
            return;
        }
        if (!prev_unknown) out.push_back(unk_);
        prev_unknown = true;
    }

    Vocabulary vocab_;
    PieceMap pieces_;  // normal, user-defined, unused (and undefined) pieces
    std::array<TokenId, 256> byte_ids_{};
    bool has_bytes_ = false;
    bool has_unused_ = false;
    TokenId unk_ = -1;
    PrefixTrie user_defined_;  // matched inside the normalized text, never merged
    PrefixTrie specials_;      // control and unknown tokens, for parse_special
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocabulary vocab) {
    return std::make_unique<SpmTokenizer>(std::move(vocab));
}

}  // namespace edgelm
