// OpenAI's response bodies, as edgelm serve writes them: errors, usage, log-probabilities
// (the completions API's parallel lists and the chat API's per-token objects), and the
// streamed chunks' shape. Field names follow the OpenAI API reference.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serve/job.h"
#include "serve/request_error.h"
#include "tokenizer/tokenizer.h"

namespace edgelm::serve {

nlohmann::json error_body(const RequestError& e);
nlohmann::json usage_body(int prompt_tokens, int completion_tokens, int cached_tokens);

// The chat API's logprobs.content entries for these tokens.
nlohmann::json chat_logprobs(const Tokenizer& tok, const std::vector<SampledToken>& tokens);
// The completions API's logprobs object; `offset` is the text offset of the first token.
nlohmann::json completion_logprobs(const Tokenizer& tok, const std::vector<SampledToken>& tokens,
                                   size_t offset);

// A JSON text for the wire: invalid UTF-8 (a model can emit half a character at the end)
// becomes U+FFFD instead of an exception.
std::string dump(const nlohmann::json& j);

// Little-endian float32 values in base64, as the embeddings API's encoding_format
// "base64" returns them (the OpenAI SDKs ask for it by default).
std::string base64_floats(const std::vector<float>& values);

}  // namespace edgelm::serve
