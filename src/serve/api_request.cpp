#include "serve/api_request.h"

#include <cmath>
#include <limits>

namespace edgelm::serve {

using nlohmann::json;

namespace {

// The nesting depth of a JSON text, counted over brackets outside strings.
int json_depth(std::string_view text) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char ch : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (ch == '\\')
                escaped = true;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '[' || ch == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > kMaxJsonDepth) return deepest;
        } else if (ch == ']' || ch == '}') {
            --depth;
        }
    }
    return deepest;
}

const json* field(const json& body, const char* name) {
    auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const json& body, const char* name, size_t max_bytes = 256) {
    const json* f = field(body, name);
    if (!f) return {};
    if (!f->is_string()) throw bad_field(name, "must be a string");
    const auto& s = f->get_ref<const std::string&>();
    if (s.size() > max_bytes)
        throw bad_field(name, "is longer than " + std::to_string(max_bytes) + " bytes");
    return s;
}

bool bool_field(const json& body, const char* name, bool fallback) {
    const json* f = field(body, name);
    if (!f) return fallback;
    if (!f->is_boolean()) throw bad_field(name, "must be true or false");
    return f->get<bool>();
}

// A finite number in [lo, hi].
double number_field(const json& body, const char* name, double fallback, double lo, double hi) {
    const json* f = field(body, name);
    if (!f) return fallback;
    if (!f->is_number()) throw bad_field(name, "must be a number");
    const double v = f->get<double>();
    if (!std::isfinite(v) || v < lo || v > hi)
        throw bad_field(name, "must be between " + json(lo).dump() + " and " + json(hi).dump());
    return v;
}

// An integer in [lo, hi] (1.0 is accepted as 1, 1.5 is not).
int64_t integer_field(const json& body, const char* name, int64_t fallback, int64_t lo,
                      int64_t hi) {
    const json* f = field(body, name);
    if (!f) return fallback;
    if (f->is_number_integer()) {
        if (f->is_number_unsigned() && f->get<uint64_t>() > static_cast<uint64_t>(hi))
            throw bad_field(name, "must be at most " + std::to_string(hi));
        const int64_t v = f->get<int64_t>();
        if (v < lo || v > hi)
            throw bad_field(name,
                            "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
        return v;
    }
    if (f->is_number_float()) {
        const double d = f->get<double>();
        if (std::isfinite(d) && d == std::floor(d) && d >= static_cast<double>(lo) &&
            d <= static_cast<double>(hi))
            return static_cast<int64_t>(d);
    }
    throw bad_field(
        name, "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
}

std::vector<int32_t> token_ids(const json& array, const std::string& name) {
    std::vector<int32_t> ids;
    ids.reserve(array.size());
    for (const json& v : array) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
            v.get<int64_t>() > std::numeric_limits<int32_t>::max())
            throw bad_field(name, "must hold strings or non-negative token ids");
        ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    return ids;
}

// The sampling, stop, stream, LoRA and routing fields both generation endpoints share.
void parse_common(const json& body, GenerationRequest& r) {
    r.model = string_field(body, "model");
    if (integer_field(body, "n", 1, std::numeric_limits<int32_t>::min(),
                      std::numeric_limits<int32_t>::max()) != 1)
        throw bad_field("n", "must be 1: edgelm serve returns one choice per request");
    r.sampler.temperature =
        static_cast<float>(number_field(body, "temperature", r.sampler.temperature, 0, 2));
    r.sampler.top_p = static_cast<float>(number_field(body, "top_p", r.sampler.top_p, 0, 1));
    if (r.sampler.top_p == 0) throw bad_field("top_p", "must be above 0");
    r.sampler.top_k = static_cast<int>(integer_field(body, "top_k", r.sampler.top_k, 0, 1 << 20));
    r.sampler.min_p = static_cast<float>(number_field(body, "min_p", r.sampler.min_p, 0, 1));
    if (r.sampler.min_p >= 1) throw bad_field("min_p", "must be below 1");
    r.sampler.repeat_penalty =
        static_cast<float>(number_field(body, "repeat_penalty", r.sampler.repeat_penalty, 0.5, 2));
    for (const char* unsupported : {"presence_penalty", "frequency_penalty"})
        if (number_field(body, unsupported, 0, -2, 2) != 0)
            throw bad_field(unsupported, "is not supported (only 0); use repeat_penalty");
    if (field(body, "seed")) {
        r.sampler.seed = static_cast<uint64_t>(integer_field(body, "seed", 0,
                                                             std::numeric_limits<int64_t>::min(),
                                                             std::numeric_limits<int64_t>::max()));
        r.seeded = true;
    }
    if (const json* stop = field(body, "stop")) {
        if (stop->is_string()) {
            r.stop.push_back(stop->get<std::string>());
        } else if (stop->is_array()) {
            if (stop->size() > static_cast<size_t>(kMaxStopStrings))
                throw bad_field("stop",
                                "may hold at most " + std::to_string(kMaxStopStrings) + " strings");
            for (const json& s : *stop) {
                if (!s.is_string())
                    throw bad_field("stop", "must be a string or a list of strings");
                r.stop.push_back(s.get<std::string>());
            }
        } else {
            throw bad_field("stop", "must be a string or a list of strings");
        }
        for (const std::string& s : r.stop) {
            if (s.empty()) throw bad_field("stop", "must not hold an empty string");
            if (s.size() > kMaxStopBytes)
                throw bad_field(
                    "stop", "strings must be at most " + std::to_string(kMaxStopBytes) + " bytes");
        }
    }
    r.stream = bool_field(body, "stream", false);
    if (const json* so = field(body, "stream_options")) {
        if (!so->is_object()) throw bad_field("stream_options", "must be an object");
        r.include_usage = bool_field(*so, "include_usage", false);
    }
    r.user = string_field(body, "user");
    r.allow_fallback = bool_field(body, "fallback", true);
    r.ignore_eos = bool_field(body, "ignore_eos", false);
    if (const json* lora = field(body, "lora")) {
        if (!lora->is_array()) throw bad_field("lora", "must be a list of {\"name\", \"scale\"}");
        if (lora->size() > static_cast<size_t>(kMaxLoras))
            throw bad_field("lora", "may name at most " + std::to_string(kMaxLoras) + " adapters");
        for (const json& l : *lora) {
            if (!l.is_object()) throw bad_field("lora", "must be a list of {\"name\", \"scale\"}");
            LoraChoice c;
            c.name = string_field(l, "name");
            if (c.name.empty()) throw bad_field("lora", "entries need a \"name\"");
            c.scale = static_cast<float>(number_field(l, "scale", 1.0, -10, 10));
            r.lora.push_back(c);
        }
    }
}

std::string message_content(const json& content) {
    if (content.is_string()) return content.get<std::string>();
    if (content.is_array()) {  // [{"type": "text", "text": ...}, ...]
        std::string text;
        for (const json& part : content) {
            if (!part.is_object() || string_field(part, "type") != "text")
                throw bad_field("messages",
                                "content parts must be {\"type\": \"text\", \"text\": ...}");
            text += string_field(part, "text", std::numeric_limits<size_t>::max());
        }
        return text;
    }
    throw bad_field("messages", "content must be a string or a list of text parts");
}

}  // namespace

json parse_body(std::string_view body) {
    if (json_depth(body) > kMaxJsonDepth)
        throw RequestError(
            400, "the body is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", "",
            "invalid_json");
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {
        throw RequestError(400, std::string("the body is not valid JSON: ") + e.what(), "",
                           "invalid_json");
    }
    if (!j.is_object())
        throw RequestError(400, "the body must be a JSON object", "", "invalid_json");
    return j;
}

GenerationRequest parse_completion_request(const json& body) {
    GenerationRequest r;
    const json* prompt = field(body, "prompt");
    if (!prompt) throw bad_field("prompt", "is required");
    if (prompt->is_string()) {
        r.prompt = prompt->get<std::string>();
    } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
        r.prompt = (*prompt)[0].get<std::string>();
    } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
        r.prompt_ids = token_ids(*prompt, "prompt");
    } else {
        throw bad_field("prompt", "must be a string, one string in a list, or a list of token ids");
    }
    r.max_tokens = static_cast<int>(integer_field(body, "max_tokens", 16, 0, 1 << 20));
    if (const json* lp = field(body, "logprobs")) {  // completions: the number of top entries
        r.top_logprobs = static_cast<int>(integer_field(body, "logprobs", 0, 0, kMaxTopLogprobs));
        r.logprobs = lp != nullptr;
    }
    parse_common(body, r);
    return r;
}

GenerationRequest parse_chat_request(const json& body) {
    GenerationRequest r;
    r.chat = true;
    const json* messages = field(body, "messages");
    if (!messages || !messages->is_array() || messages->empty())
        throw bad_field("messages", "must be a non-empty list of {\"role\", \"content\"}");
    for (const json& m : *messages) {
        if (!m.is_object()) throw bad_field("messages", "entries must be objects");
        ChatMessage msg;
        msg.role = string_field(m, "role");
        if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
            msg.role != "developer")
            throw bad_field(
                "messages",
                "role must be system, developer, user or assistant (got \"" + msg.role + "\")");
        if (msg.role == "developer") msg.role = "system";
        const json* content = field(m, "content");
        msg.content = content ? message_content(*content) : std::string();
        r.messages.push_back(std::move(msg));
    }
    const int64_t limit = 1 << 20;
    r.max_tokens = static_cast<int>(integer_field(body, "max_completion_tokens", -1, 0, limit));
    if (r.max_tokens < 0)
        r.max_tokens = static_cast<int>(integer_field(body, "max_tokens", -1, 0, limit));
    r.logprobs = bool_field(body, "logprobs", false);
    r.top_logprobs = static_cast<int>(integer_field(body, "top_logprobs", 0, 0, kMaxTopLogprobs));
    if (r.top_logprobs > 0 && !r.logprobs)
        throw bad_field("top_logprobs", "needs \"logprobs\": true");
    parse_common(body, r);
    return r;
}

EmbeddingRequest parse_embedding_request(const json& body) {
    EmbeddingRequest r;
    r.model = string_field(body, "model");
    const json* input = field(body, "input");
    if (!input) throw bad_field("input", "is required");
    if (input->is_string()) {
        r.texts.push_back(input->get<std::string>());
    } else if (input->is_array() && !input->empty()) {
        if (input->size() > static_cast<size_t>(kMaxInputs))
            throw bad_field("input", "may hold at most " + std::to_string(kMaxInputs) + " inputs");
        if ((*input)[0].is_number()) {
            r.token_inputs.push_back(token_ids(*input, "input"));
        } else {
            for (const json& v : *input) {
                if (v.is_string())
                    r.texts.push_back(v.get<std::string>());
                else if (v.is_array() && !v.empty())
                    r.token_inputs.push_back(token_ids(v, "input"));
                else
                    throw bad_field("input", "must be a string, a list of strings or token ids");
            }
            if (!r.texts.empty() && !r.token_inputs.empty())
                throw bad_field("input", "must not mix strings and token ids");
        }
    } else {
        throw bad_field("input", "must be a string, a list of strings or token ids");
    }
    const std::string format = string_field(body, "encoding_format");
    if (!format.empty() && format != "float" && format != "base64")
        throw bad_field("encoding_format", "must be \"float\" or \"base64\"");
    r.base64 = format == "base64";
    if (field(body, "dimensions"))
        throw bad_field("dimensions", "is not supported: the model's width is fixed");
    return r;
}

ClassifyRequest parse_classify_request(const json& body) {
    ClassifyRequest r;
    r.model = string_field(body, "model");
    const json* input = field(body, "input");
    if (input && input->is_string()) {
        r.texts.push_back(input->get<std::string>());
    } else if (input && input->is_array() && !input->empty() &&
               input->size() <= static_cast<size_t>(kMaxInputs)) {
        for (const json& v : *input) {
            if (!v.is_string()) throw bad_field("input", "must be a string or a list of strings");
            r.texts.push_back(v.get<std::string>());
        }
    } else {
        throw bad_field("input", "must be a string or a list of 1 to " +
                                     std::to_string(kMaxInputs) + " strings");
    }
    return r;
}

}  // namespace edgelm::serve
