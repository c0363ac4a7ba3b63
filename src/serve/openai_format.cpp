#include "serve/openai_format.h"

#include <cstring>

namespace edgelm::serve {

using nlohmann::json;

json error_body(const RequestError& e) {
    json err = {{"message", e.what()}, {"type", e.type()}};
    err["param"] = e.param().empty() ? json(nullptr) : json(e.param());
    err["code"] = e.code().empty() ? json(nullptr) : json(e.code());
    return {{"error", err}};
}

json usage_body(int prompt_tokens, int completion_tokens, int cached_tokens) {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

namespace {

json token_bytes(const std::string& piece) {
    json b = json::array();
    for (char c : piece) b.push_back(static_cast<unsigned char>(c));
    return b;
}

}  // namespace

json chat_logprobs(const Tokenizer& tok, const std::vector<SampledToken>& tokens) {
    json content = json::array();
    for (const SampledToken& t : tokens) {
        const std::string piece = tok.token_to_piece(t.id);
        json top = json::array();
        for (const auto& [id, lp] : t.top) {
            const std::string p = tok.token_to_piece(id);
            top.push_back({{"token", p}, {"logprob", lp}, {"bytes", token_bytes(p)}});
        }
        content.push_back({{"token", piece},
                           {"logprob", t.logprob},
                           {"bytes", token_bytes(piece)},
                           {"top_logprobs", top}});
    }
    return {{"content", content}};
}

json completion_logprobs(const Tokenizer& tok, const std::vector<SampledToken>& tokens,
                         size_t offset) {
    json pieces = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    for (const SampledToken& t : tokens) {
        const std::string piece = tok.token_to_piece(t.id);
        pieces.push_back(piece);
        lps.push_back(t.logprob);
        json top = json::object();
        for (const auto& [id, lp] : t.top) top[tok.token_to_piece(id)] = lp;
        tops.push_back(top);
        offsets.push_back(offset);
        offset += piece.size();
    }
    return {{"tokens", pieces},
            {"token_logprobs", lps},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string base64_floats(const std::vector<float>& values) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes(values.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());  // x86 and aarch64: little-endian
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        if (i + 1 < bytes.size())
            v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
    }
    return out;
}

}  // namespace edgelm::serve
