// The OpenAI request bodies edgelm serve accepts, parsed and checked field by field before
// anything reaches the runtime: a wrong type, a non-finite or out-of-range number, too
// many stop strings, a body nested too deeply or not UTF-8 is a RequestError (400) that
// names the field. Unknown fields are ignored, as OpenAI's and llama-server's clients expect.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"
#include "serve/request_error.h"

namespace edgelm::serve {

// Limits on what one request may ask for (documented in docs/serving.md).
constexpr int kMaxJsonDepth = 32;
constexpr int kMaxStopStrings = 4;
constexpr size_t kMaxStopBytes = 256;
constexpr int kMaxTopLogprobs = 20;
constexpr int kMaxInputs = 64;  // embeddings and classify inputs per request
constexpr int kMaxLoras = 8;

// Parses a request body: 400 for JSON that does not parse, is not an object, is nested
// deeper than kMaxJsonDepth (checked before parsing, so a hostile body cannot exhaust the
// stack) or holds invalid UTF-8.
nlohmann::json parse_body(std::string_view body);

struct ChatMessage {
    std::string role;  // system, user, assistant
    std::string content;
};

struct LoraChoice {
    std::string name;  // as given to --lora NAME=FILE
    float scale = 1.0f;
};

struct GenerationRequest {
    bool chat = false;
    std::string model;
    std::string prompt;                 // a completion's prompt text
    std::vector<int32_t> prompt_ids;    // or its token ids
    std::vector<ChatMessage> messages;  // a chat's messages
    int max_tokens = -1;                // -1: until the context is full
    SamplerParams sampler;
    bool seeded = false;  // "seed" given: the output is reproducible
    std::vector<std::string> stop;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    bool logprobs = false;
    int top_logprobs = 0;
    std::vector<LoraChoice> lora;
    std::string user;  // sticky A/B assignment
    bool allow_fallback = true;
    bool ignore_eos = false;  // llama-server's extension: generate past end-of-sequence

    // Same output for the same input: greedy, or sampled with a fixed seed.
    bool deterministic() const { return sampler.temperature == 0 || seeded; }
};

GenerationRequest parse_completion_request(const nlohmann::json& body);
GenerationRequest parse_chat_request(const nlohmann::json& body);

struct EmbeddingRequest {
    std::string model;
    std::vector<std::string> texts;
    std::vector<std::vector<int32_t>> token_inputs;  // or token ids
    bool base64 = false;                             // encoding_format "base64"
};
EmbeddingRequest parse_embedding_request(const nlohmann::json& body);

struct ClassifyRequest {
    std::string model;
    std::vector<std::string> texts;
};
ClassifyRequest parse_classify_request(const nlohmann::json& body);

}  // namespace edgelm::serve
