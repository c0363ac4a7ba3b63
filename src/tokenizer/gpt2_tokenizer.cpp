// GPT-2 byte-level BPE (tokenizer.ggml.model = "gpt2"), as OpenAI's encoder.py and
// llama.cpp's "gpt2" pre-tokenizer: split the text with the GPT-2 regex, write each
// byte of a piece as its symbol in the 256-entry bytes_to_unicode alphabet, merge
// adjacent symbols by merge rank (lowest first, leftmost first on ties), and look the
// resulting symbols up in the vocabulary.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace edgelm {

namespace {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC,
// U+00AE..U+00FF) stand for themselves; the other 68 bytes, in increasing order, get
// U+0100, U+0101, ... (so ' ' is U+0120 'Ġ' and '\n' is U+010A 'Ċ').
struct ByteAlphabet {
    static constexpr char32_t kCodePoints = 0x100 + 68;
    std::array<std::string, 256> symbol;         // UTF-8 of the code point of each byte
    std::array<int16_t, kCodePoints> byte_of{};  // code point -> byte, or -1

    ByteAlphabet() {
        byte_of.fill(-1);
        char32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const bool printable =
                (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
            symbol[b] = unicode::encode_utf8(cp);
            byte_of[cp] = static_cast<int16_t>(b);
        }
    }
};

const ByteAlphabet& byte_alphabet() {
    static const ByteAlphabet alphabet;
    return alphabet;
}

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

bool is_special_type(TokenType t) {
    return t == TokenType::kControl || t == TokenType::kUserDefined;
}

// One symbol of a word being merged: bytes [off, off + len) of the word's alphabet
// form, in a doubly linked list (len == 0 once merged into its left neighbour).
struct Symbol {
    int32_t prev, next;
    uint32_t off, len;
};

// A candidate merge of symbols left and right; size is their joint length when the
// candidate was made, so stale candidates can be recognized and dropped.
struct Bigram {
    int32_t rank;
    int32_t left, right;
    uint32_t size;
};

// Heap order for std::push_heap / pop_heap: the top is the lowest rank, then leftmost.
bool bigram_after(const Bigram& a, const Bigram& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

// Buffers reused across the pieces of one encode() call.
struct Scratch {
    std::vector<std::string_view> pieces;
    std::string word;
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
    std::string key;
};

struct SpecialToken {
    std::string_view text;
    TokenId id;
};

class Gpt2Tokenizer final : public Tokenizer {
  public:
    explicit Gpt2Tokenizer(Vocabulary vocab);
    Gpt2Tokenizer(const Gpt2Tokenizer&) = delete;  // the maps point into vocab_
    Gpt2Tokenizer& operator=(const Gpt2Tokenizer&) = delete;

    std::vector<TokenId> encode(std::string_view text, bool add_bos,
                                bool parse_special) const override;
    std::string token_to_piece(TokenId id) const override;
    std::string decode(const std::vector<TokenId>& ids) const override;
    const Vocabulary& vocab() const override { return vocab_; }

  private:
    void validate() const;
    const SpecialToken* match_special(std::string_view text, size_t pos) const;
    void encode_text(std::string_view text, Scratch& s, std::vector<TokenId>& out) const;
    void encode_piece(std::string_view piece, Scratch& s, std::vector<TokenId>& out) const;
    void try_add_bigram(int32_t left, int32_t right, Scratch& s) const;
    void emit_symbol(std::string_view symbol, std::vector<TokenId>& out) const;
    void append_piece(TokenId id, std::string& out) const;

    Vocabulary vocab_;
    // Keys view the strings of vocab_.tokens / vocab_.merges, which never change.
    std::unordered_map<std::string_view, TokenId> token_to_id_;
    std::unordered_map<std::string_view, int32_t> merge_rank_;  // "a b" -> index
    std::array<TokenId, 256> byte_token_{};                     // byte symbol -> id, or -1
    // Control and user-defined tokens by first byte, longest first.
    std::array<std::vector<SpecialToken>, 256> specials_;
    bool has_specials_ = false;
};

Gpt2Tokenizer::Gpt2Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {
    if (vocab_.types.empty()) vocab_.types.assign(vocab_.tokens.size(), TokenType::kNormal);
    validate();

    const auto n_tokens = static_cast<TokenId>(vocab_.tokens.size());
    token_to_id_.reserve(vocab_.tokens.size());
    for (TokenId id = 0; id < n_tokens; ++id) {
        const std::string& text = vocab_.tokens[id];
        token_to_id_.emplace(text, id);  // a duplicate keeps its first id
        if (is_special_type(vocab_.types[id]) && !text.empty()) {
            specials_[static_cast<unsigned char>(text[0])].push_back({text, id});
            has_specials_ = true;
        }
    }
    for (auto& list : specials_) {
        std::stable_sort(list.begin(), list.end(),
                         [](const SpecialToken& a, const SpecialToken& b) {
                             return a.text.size() > b.text.size();
                         });
    }

    merge_rank_.reserve(vocab_.merges.size());
    for (size_t i = 0; i < vocab_.merges.size(); ++i) {
        merge_rank_.emplace(vocab_.merges[i], static_cast<int32_t>(i));  // first rank wins
    }

    const ByteAlphabet& alphabet = byte_alphabet();
    for (int b = 0; b < 256; ++b) {
        const auto it = token_to_id_.find(alphabet.symbol[b]);
        byte_token_[b] = it == token_to_id_.end() ? -1 : it->second;
    }
}

void Gpt2Tokenizer::validate() const {
    const Vocabulary& v = vocab_;
    const size_t n = v.tokens.size();
    if (v.model != "gpt2") {
        throw FormatError("tokenizer.ggml.model: expected \"gpt2\", got " + quoted(v.model));
    }
    if (n == 0) throw FormatError("tokenizer.ggml.tokens: empty");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        throw FormatError("tokenizer.ggml.tokens: " + std::to_string(n) + " tokens is too many");
    }
    if (v.types.size() != n) {
        throw FormatError("tokenizer.ggml.token_type: " + std::to_string(v.types.size()) +
                          " entries for " + std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) {
        const auto t = static_cast<int32_t>(v.types[i]);
        if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
            throw FormatError("tokenizer.ggml.token_type[" + std::to_string(i) +
                              "]: unknown type " + std::to_string(t));
        }
    }
    if (!v.scores.empty() && v.scores.size() != n) {
        throw FormatError("tokenizer.ggml.scores: " + std::to_string(v.scores.size()) +
                          " entries for " + std::to_string(n) + " tokens");
    }
    if (v.merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        throw FormatError("tokenizer.ggml.merges: too many entries");
    }
    for (size_t i = 0; i < v.merges.size(); ++i) {
        // Exactly one separating space, and neither part empty (a part may start with a
        // space only as the first byte of the string, as llama.cpp allows).
        const std::string& m = v.merges[i];
        const size_t sep = m.find(' ', 1);
        if (sep == std::string::npos || sep + 1 >= m.size() ||
            m.find(' ', sep + 1) != std::string::npos) {
            throw FormatError("tokenizer.ggml.merges[" + std::to_string(i) +
                              "]: expected two space-separated parts, got " + quoted(m));
        }
    }
    const std::pair<const char*, TokenId> ids[] = {
        {"tokenizer.ggml.bos_token_id", v.bos},
        {"tokenizer.ggml.eos_token_id", v.eos},
        {"tokenizer.ggml.unknown_token_id", v.unk},
        {"tokenizer.ggml.padding_token_id", v.pad},
    };
    for (const auto& [field, id] : ids) {
        if (id < -1 || id >= static_cast<TokenId>(n)) {
            throw FormatError(std::string(field) + ": " + std::to_string(id) +
                              " is out of range [0, " + std::to_string(n) + ")");
        }
    }
}

const SpecialToken* Gpt2Tokenizer::match_special(std::string_view text, size_t pos) const {
    for (const SpecialToken& sp : specials_[static_cast<unsigned char>(text[pos])]) {
        if (text.substr(pos, sp.text.size()) == sp.text) return &sp;
    }
    return nullptr;
}

std::vector<TokenId> Gpt2Tokenizer::encode(std::string_view text, bool add_bos,
                                           bool parse_special) const {
    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
    Scratch s;
    if (!parse_special || !has_specials_) {
        encode_text(text, s, out);
        return out;
    }
    // Leftmost-longest matching of special tokens; the text between them is ordinary.
    size_t fragment = 0;
    for (size_t pos = 0; pos < text.size();) {
        const SpecialToken* sp = match_special(text, pos);
        if (sp == nullptr) {
            ++pos;
            continue;
        }
        encode_text(text.substr(fragment, pos - fragment), s, out);
        out.push_back(sp->id);
        pos += sp->text.size();
        fragment = pos;
    }
    encode_text(text.substr(fragment), s, out);
    return out;
}

void Gpt2Tokenizer::encode_text(std::string_view text, Scratch& s,
                                std::vector<TokenId>& out) const {
    s.pieces.clear();
    unicode::gpt2_pretokenize(text, s.pieces);
    for (std::string_view piece : s.pieces) encode_piece(piece, s, out);
}

void Gpt2Tokenizer::try_add_bigram(int32_t left, int32_t right, Scratch& s) const {
    const Symbol& l = s.symbols[left];
    const Symbol& r = s.symbols[right];
    s.key.assign(s.word, l.off, l.len);
    s.key += ' ';
    s.key.append(s.word, r.off, r.len);
    const auto it = merge_rank_.find(std::string_view(s.key));
    if (it == merge_rank_.end()) return;
    s.heap.push_back({it->second, left, right, l.len + r.len});
    std::push_heap(s.heap.begin(), s.heap.end(), bigram_after);
}

void Gpt2Tokenizer::encode_piece(std::string_view piece, Scratch& s,
                                 std::vector<TokenId>& out) const {
    const ByteAlphabet& alphabet = byte_alphabet();
    s.word.clear();
    s.symbols.clear();
    s.heap.clear();
    for (size_t i = 0; i < piece.size(); ++i) {
        const std::string& sym = alphabet.symbol[static_cast<unsigned char>(piece[i])];
        const auto idx = static_cast<int32_t>(i);
        const int32_t next = i + 1 < piece.size() ? idx + 1 : -1;
        s.symbols.push_back({idx - 1, next, static_cast<uint32_t>(s.word.size()),
                             static_cast<uint32_t>(sym.size())});
        s.word += sym;
    }
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(s.symbols.size()); ++i) {
        try_add_bigram(i, i + 1, s);
    }
    while (!s.heap.empty()) {
        std::pop_heap(s.heap.begin(), s.heap.end(), bigram_after);
        const Bigram bg = s.heap.back();
        s.heap.pop_back();
        Symbol& l = s.symbols[bg.left];
        Symbol& r = s.symbols[bg.right];
        if (l.len == 0 || r.len == 0 || l.next != bg.right || l.len + r.len != bg.size) {
            continue;  // stale: one side has merged with something else since
        }
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) s.symbols[r.next].prev = bg.left;
        if (l.prev >= 0) try_add_bigram(l.prev, bg.left, s);
        if (l.next >= 0) try_add_bigram(bg.left, l.next, s);
    }
    for (int32_t i = s.symbols.empty() ? -1 : 0; i >= 0; i = s.symbols[i].next) {
        const Symbol& sym = s.symbols[i];
        emit_symbol(std::string_view(s.word).substr(sym.off, sym.len), out);
    }
}

void Gpt2Tokenizer::emit_symbol(std::string_view symbol, std::vector<TokenId>& out) const {
    if (const auto it = token_to_id_.find(symbol); it != token_to_id_.end()) {
        out.push_back(it->second);
        return;
    }
    // A merge result missing from the vocabulary: fall back to one token per byte, and
    // to unk (or nothing, as llama.cpp) for a byte whose symbol is missing too.
    const ByteAlphabet& alphabet = byte_alphabet();
    for (size_t pos = 0; pos < symbol.size();) {
        const unicode::Utf8Unit u = unicode::decode_utf8(symbol, pos);
        pos += u.len;
        if (u.cp >= ByteAlphabet::kCodePoints) continue;  // cannot happen: built from bytes
        const TokenId id = byte_token_[static_cast<size_t>(alphabet.byte_of[u.cp])];
        if (id >= 0) {
            out.push_back(id);
        } else if (vocab_.unk >= 0) {
            out.push_back(vocab_.unk);
        }
    }
}

void Gpt2Tokenizer::append_piece(TokenId id, std::string& out) const {
    if (id < 0 || id >= size()) {
        throw ArgumentError("token id " + std::to_string(id) + " is out of range [0, " +
                            std::to_string(size()) + ")");
    }
    const std::string& text = vocab_.tokens[id];
    switch (vocab_.types[id]) {
        case TokenType::kControl:
            return;
        case TokenType::kUserDefined:  // stored as raw text, not in the byte alphabet
            out += text;
            return;
        default:
            break;
    }
    const ByteAlphabet& alphabet = byte_alphabet();
    for (size_t pos = 0; pos < text.size();) {
        const unicode::Utf8Unit u = unicode::decode_utf8(text, pos);
        if (u.cp < ByteAlphabet::kCodePoints && alphabet.byte_of[u.cp] >= 0) {
            out += static_cast<char>(alphabet.byte_of[u.cp]);
        } else {
            out.append(text, pos, u.len);  // not in the alphabet: keep it as written
        }
        pos += u.len;
    }
}

std::string Gpt2Tokenizer::token_to_piece(TokenId id) const {
    std::string out;
    append_piece(id, out);
    return out;
}

std::string Gpt2Tokenizer::decode(const std::vector<TokenId>& ids) const {
    std::string out;
    for (TokenId id : ids) append_piece(id, out);
    return out;
}

}  // namespace

std::unique_ptr<Tokenizer> make_gpt2_tokenizer(Vocabulary vocab) {
    return std::make_unique<Gpt2Tokenizer>(std::move(vocab));
}

}  // namespace edgelm
