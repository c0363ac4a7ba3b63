// The tokenizer interface shared by the vocabularies a GGUF file can carry:
// SentencePiece-BPE with byte fallback (tokenizer.ggml.model = "llama") and GPT-2
// byte-level BPE (tokenizer.ggml.model = "gpt2").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgelm {

using TokenId = int32_t;

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
};

// Everything a vocabulary is built from; read from tokenizer.ggml.* or made by a
// trainer. `merges` is used by gpt2 only ("a b" pairs, rank = index); `scores` by llama.
struct Vocabulary {
    std::string model;  // "llama" or "gpt2"
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<TokenType> types;
    std::vector<std::string> merges;
    TokenId bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_bos = true;           // tokenizer.ggml.add_bos_token
    bool add_space_prefix = true;  // tokenizer.ggml.add_space_prefix (llama only)
};

class Tokenizer {
  public:
    virtual ~Tokenizer() = default;

    // Encodes text. Control tokens written in the text (e.g. "<s>") are matched as
    // special tokens only when parse_special is true; otherwise they are plain text.
    virtual std::vector<TokenId> encode(std::string_view text, bool add_bos,
                                        bool parse_special = false) const = 0;

    // The bytes of one token as it appears in output text. For llama vocabularies the
    // leading-space marker U+2581 becomes ' ' and <0xNN> becomes the byte NN; control
    // tokens decode to "".
    virtual std::string token_to_piece(TokenId id) const = 0;

    // decode(encode(x)) == x for any x when add_bos is false (llama: the space prefix
    // added by encode is removed from the first token).
    virtual std::string decode(const std::vector<TokenId>& ids) const = 0;

    virtual const Vocabulary& vocab() const = 0;
    int32_t size() const { return static_cast<int32_t>(vocab().tokens.size()); }
};

// Validates the vocabulary (sizes agree, special ids in range, byte tokens present
// for llama) and builds the matching tokenizer. Throws FormatError naming the field.
std::unique_ptr<Tokenizer> make_tokenizer(Vocabulary vocab);

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocabulary vocab);
std::unique_ptr<Tokenizer> make_gpt2_tokenizer(Vocabulary vocab);

}  // namespace edgelm
