// Request bodies of edgelm serve: what parses, and every hostile field refused with a 400
// that names it (llama-server crashed on several of these: CVE-2026-21869 and others).
#include <gtest/gtest.h>

#include "serve/api_request.h"

namespace edgelm::serve {
namespace {

using nlohmann::json;

GenerationRequest completion(const std::string& body) {
    return parse_completion_request(parse_body(body));
}

// The request is refused with 400 and `param` names the field.
void expect_refused(const std::string& body, const std::string& param, bool chat = false) {
    try {
        const json j = parse_body(body);
        if (chat)
            parse_chat_request(j);
        else
            parse_completion_request(j);
        ADD_FAILURE() << "accepted: " << body;
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 400) << body;
        EXPECT_EQ(e.param(), param) << body << ": " << e.what();
        if (!param.empty()) {
            EXPECT_NE(std::string(e.what()).find(param), std::string::npos) << e.what();
        }
    }
}

TEST(ServeApiRequestTest, ParsesCompletionFields) {
    const GenerationRequest r = completion(
        R"({"model":"m","prompt":"hi","max_tokens":5,"temperature":0,"top_p":0.5,"top_k":3,)"
        R"("seed":42,"stop":["x","yz"],"stream":true,"stream_options":{"include_usage":true},)"
        R"("logprobs":3,"lora":[{"name":"a","scale":0.5}],"user":"u1","fallback":false,"unknown":1})");
    EXPECT_EQ(r.prompt, "hi");
    EXPECT_EQ(r.max_tokens, 5);
    EXPECT_EQ(r.sampler.temperature, 0.0f);
    EXPECT_EQ(r.sampler.top_p, 0.5f);
    EXPECT_EQ(r.sampler.top_k, 3);
    EXPECT_EQ(r.sampler.seed, 42u);
    EXPECT_TRUE(r.seeded);
    EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
    EXPECT_TRUE(r.stream && r.include_usage && r.logprobs);
    EXPECT_EQ(r.top_logprobs, 3);
    ASSERT_EQ(r.lora.size(), 1u);
    EXPECT_EQ(r.lora[0].name, "a");
    EXPECT_EQ(r.lora[0].scale, 0.5f);
    EXPECT_EQ(r.user, "u1");
    EXPECT_FALSE(r.allow_fallback);
    EXPECT_TRUE(r.deterministic());
    EXPECT_EQ(completion(R"({"prompt":["one"]})").prompt, "one");
    EXPECT_EQ(completion(R"({"prompt":[1,2,3]})").prompt_ids, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(completion(R"({"prompt":"a","max_tokens":2.0})").max_tokens, 2);
    EXPECT_EQ(completion(R"({"prompt":"a"})").max_tokens, 16);  // OpenAI's default
}

TEST(ServeApiRequestTest, ParsesChatMessages) {
    const GenerationRequest r = parse_chat_request(parse_body(
        R"({"messages":[{"role":"developer","content":"be brief"},)"
        R"({"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],)"
        R"("max_completion_tokens":7,"logprobs":true,"top_logprobs":2})"));
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[1].content, "ab");
    EXPECT_EQ(r.max_tokens, 7);
    EXPECT_EQ(r.top_logprobs, 2);
    EXPECT_EQ(parse_chat_request(parse_body(R"({"messages":[{"role":"user","content":"x"}]})"))
                  .max_tokens,
              -1);  // until the context is full
}

TEST(ServeApiRequestTest, RefusesHostileFieldsNamingThem) {
    expect_refused(R"({"prompt":"a","max_tokens":-1})", "max_tokens");
    expect_refused(R"({"prompt":"a","max_tokens":1e30})", "max_tokens");
    expect_refused(R"({"prompt":"a","max_tokens":18446744073709551615})", "max_tokens");
    expect_refused(R"({"prompt":"a","max_tokens":"5"})", "max_tokens");
    expect_refused(R"({"prompt":"a","max_tokens":1.5})", "max_tokens");
    expect_refused(R"({"prompt":"a","temperature":-0.1})", "temperature");
    expect_refused(R"({"prompt":"a","temperature":"hot"})", "temperature");
    expect_refused(R"({"prompt":"a","top_p":0})", "top_p");
    expect_refused(R"({"prompt":"a","top_p":1.5})", "top_p");
    expect_refused(R"({"prompt":"a","top_k":-3})", "top_k");
    expect_refused(R"({"prompt":"a","min_p":2})", "min_p");
    expect_refused(R"({"prompt":"a","min_p":1})", "min_p");  // the sampler needs < 1
    expect_refused(R"({"prompt":"a","repeat_penalty":100})", "repeat_penalty");
    expect_refused(R"({"prompt":"a","presence_penalty":1})", "presence_penalty");
    expect_refused(R"({"prompt":"a","n":2})", "n");
    expect_refused(R"({"prompt":"a","n":-1})", "n");
    expect_refused(R"({"prompt":"a","logprobs":21})", "logprobs");
    expect_refused(R"({"prompt":"a","logprobs":-1})", "logprobs");
    expect_refused(R"({"prompt":"a","stop":["1","2","3","4","5"]})", "stop");
    expect_refused(R"({"prompt":"a","stop":[""]})", "stop");
    expect_refused(R"({"prompt":"a","stop":[1]})", "stop");
    expect_refused(R"({"prompt":"a","stop":")" + std::string(300, 'x') + "\"}", "stop");
    expect_refused(R"({"prompt":"a","stream":"yes"})", "stream");
    expect_refused(R"({"prompt":"a","seed":"x"})", "seed");
    expect_refused(R"({"prompt":"a","lora":{"name":"x"}})", "lora");
    expect_refused(R"({"prompt":"a","lora":[{"scale":1}]})", "lora");
    expect_refused(R"({"prompt":"a","lora":[{"name":"x","scale":1e9}]})", "scale");
    expect_refused(R"({"prompt":"a","user":)" + json(std::string(1000, 'u')).dump() + "}", "user");
    expect_refused(R"({"prompt":5})", "prompt");
    expect_refused(R"({"prompt":["a","b"]})", "prompt");
    expect_refused(R"({"prompt":[1,-2]})", "prompt");
    expect_refused(R"({"prompt":[1,"a"]})", "prompt");
    expect_refused(R"({"max_tokens":3})", "prompt");
    expect_refused(R"({"messages":[]})", "messages", true);
    expect_refused(R"({"messages":[{"role":"tool","content":"x"}]})", "messages", true);
    expect_refused(R"({"messages":[{"role":"user","content":5}]})", "messages", true);
    expect_refused(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":3})",
                   "top_logprobs", true);
}

TEST(ServeApiRequestTest, RefusesBodiesThatAreNotJsonObjects) {
    for (const std::string& body : std::vector<std::string>{
             "", "[1]", "\"x\"", "{", "{\"prompt\": \"\xff\"}", "{\"a\":1e999}",
             std::string(100000, '['), "{\"a\":" + std::string(40, '[')})
        try {
            parse_body(body);
            ADD_FAILURE() << "accepted: " << body.substr(0, 40);
        } catch (const RequestError& e) {
            EXPECT_EQ(e.status(), 400);
            EXPECT_EQ(e.code(), "invalid_json");
        }
    // Brackets inside strings are text, not nesting.
    EXPECT_NO_THROW(parse_body("{\"prompt\": \"" + std::string(1000, '[') + "\"}"));
}

TEST(ServeApiRequestTest, EmbeddingAndClassifyInputs) {
    EmbeddingRequest e =
        parse_embedding_request(parse_body(R"({"input":["a","b"],"encoding_format":"base64"})"));
    EXPECT_EQ(e.texts.size(), 2u);
    EXPECT_TRUE(e.base64);
    e = parse_embedding_request(parse_body(R"({"input":[[1,2],[3]]})"));
    EXPECT_EQ(e.token_inputs.size(), 2u);
    for (const char* bad :
         {R"({"input":5})", R"({"input":[]})", R"({"input":["a",[1]]})",
          R"({"input":"a","encoding_format":"hex"})", R"({"input":"a","dimensions":8})"})
        EXPECT_THROW(parse_embedding_request(parse_body(bad)), RequestError) << bad;
    json many = {{"input", json::array()}};
    for (int i = 0; i < kMaxInputs + 1; ++i) many["input"].push_back("x");
    EXPECT_THROW(parse_embedding_request(many), RequestError);
    EXPECT_THROW(parse_classify_request(many), RequestError);
    EXPECT_EQ(parse_classify_request(parse_body(R"({"input":"x"})")).texts.size(), 1u);
}

}  // namespace
}  // namespace edgelm::serve
