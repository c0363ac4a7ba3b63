#include "tokenizer/gguf_vocabulary.h"

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"

namespace edgelm {

Vocabulary read_vocabulary(const GgufFile& f) {
    Vocabulary v;
    auto model = f.get_string(keys::kTokModel);
    if (!model)
        throw FormatError(f.path() + ": missing metadata key '" + std::string(keys::kTokModel) +
                          "' (the file carries no tokenizer)");
    v.model = *model;
    const GgufValue* tokens = f.get_array(keys::kTokTokens, GgufType::STRING);
    if (!tokens)
        throw FormatError(f.path() + ": missing metadata key '" + std::string(keys::kTokTokens) +
                          "'");
    v.tokens = tokens->strings;
    if (const GgufValue* scores = f.get_array(keys::kTokScores, GgufType::F32))
        v.scores.assign(scores->floats.begin(), scores->floats.end());
    if (const GgufValue* types = f.get_array(keys::kTokTypes, GgufType::I32)) {
        v.types.reserve(types->ints.size());
        for (int64_t t : types->ints) {
            if (t < 0 || t > static_cast<int64_t>(TokenType::kByte))
                f.fail_key(keys::kTokTypes, "unknown token type " + std::to_string(t));
            v.types.push_back(static_cast<TokenType>(t));
        }
    }
    if (const GgufValue* merges = f.get_array(keys::kTokMerges, GgufType::STRING))
        v.merges = merges->strings;
    auto id = [&](const char* key) -> TokenId {
        auto x = f.get_int(key);
        if (!x) return -1;
        if (*x < 0 || *x >= static_cast<int64_t>(v.tokens.size()))
            f.fail_key(key, "token id " + std::to_string(*x) + " is outside the vocabulary of " +
                                std::to_string(v.tokens.size()));
        return static_cast<TokenId>(*x);
    };
    v.bos = id(keys::kTokBos);
    v.eos = id(keys::kTokEos);
    v.unk = id(keys::kTokUnk);
    v.pad = id(keys::kTokPad);
    v.add_bos = f.get_bool(keys::kTokAddBos).value_or(v.model == "llama");
    v.add_space_prefix = f.get_bool(keys::kTokAddSpacePrefix).value_or(v.model == "llama");
    return v;
}

void write_vocabulary(const Vocabulary& v, GgufWriter& w) {
    w.set(keys::kTokModel, GgufValue::string(v.model));
    if (v.model == "llama") w.set(keys::kTokPre, GgufValue::string("default"));
    w.set(keys::kTokTokens, GgufValue::string_array(v.tokens));
    if (!v.scores.empty()) w.set(keys::kTokScores, GgufValue::f32_array(v.scores));
    if (!v.types.empty()) {
        std::vector<int32_t> types;
        for (TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
        w.set(keys::kTokTypes, GgufValue::i32_array(std::move(types)));
    }
    if (!v.merges.empty()) w.set(keys::kTokMerges, GgufValue::string_array(v.merges));
    auto id = [&](const char* key, TokenId t) {
        if (t >= 0) w.set(key, GgufValue::u32(static_cast<uint32_t>(t)));
    };
    id(keys::kTokBos, v.bos);
    id(keys::kTokEos, v.eos);
    id(keys::kTokUnk, v.unk);
    id(keys::kTokPad, v.pad);
    w.set(keys::kTokAddBos, GgufValue::boolean(v.add_bos));
    w.set(keys::kTokAddEos, GgufValue::boolean(false));
    if (v.model == "llama") w.set(keys::kTokAddSpacePrefix, GgufValue::boolean(v.add_space_prefix));
}

}  // namespace edgelm
