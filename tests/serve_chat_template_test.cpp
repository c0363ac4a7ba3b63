// Chat templates: the families recognised from a GGUF's tokenizer.chat_template, and the
// prompt each writes.
#include <gtest/gtest.h>

#include "serve/chat_template.h"

namespace edgelm::serve {
namespace {

const std::vector<ChatMessage> kMessages = {
    {"system", "S"}, {"user", "U"}, {"assistant", "A"}, {"user", "V"}};

TEST(ServeChatTemplateTest, RecognisesFamiliesByTheirMarkers) {
    EXPECT_EQ(detect_chat_format("{% for m in messages %}<|im_start|>{{m.role}}..."),
              ChatFormat::ChatML);
    EXPECT_EQ(detect_chat_format("<|start_header_id|>"), ChatFormat::Llama3);
    EXPECT_EQ(detect_chat_format("<start_of_turn>"), ChatFormat::Gemma);
    EXPECT_EQ(detect_chat_format("<|user|> ... <|end|>"), ChatFormat::Phi3);
    EXPECT_EQ(detect_chat_format("<|user|> ... eos_token"), ChatFormat::Zephyr);
    EXPECT_EQ(detect_chat_format("[INST]"), ChatFormat::Llama2);
    EXPECT_EQ(detect_chat_format(""), ChatFormat::Plain);
    EXPECT_EQ(detect_chat_format("{{ something else }}"), ChatFormat::Plain);
}

TEST(ServeChatTemplateTest, WritesEachLayout) {
    EXPECT_EQ(render_chat(ChatFormat::ChatML, kMessages).text,
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>"
              "assistant\nA<|im_end|>\n"
              "<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(render_chat(ChatFormat::Llama3, {{"user", "U"}}).text,
              "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<"
              "|end_header_id|>\n\n");
    EXPECT_EQ(render_chat(ChatFormat::Llama2, kMessages).text,
              "[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s><s>[INST] V [/INST]");
    EXPECT_EQ(render_chat(ChatFormat::Gemma, kMessages).text,
              "<start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n"
              "<start_of_turn>user\nV<end_of_turn>\n<start_of_turn>model\n");
    const ChatPrompt plain = render_chat(ChatFormat::Plain, kMessages);
    EXPECT_EQ(plain.text, "System: S\n\nUser: U\n\nAssistant: A\n\nUser: V\n\nAssistant:");
    EXPECT_FALSE(plain.parse_special);
    EXPECT_EQ(plain.end_of_turn, std::vector<std::string>{"\n\nUser:"});
    EXPECT_EQ(render_chat(ChatFormat::ChatML, kMessages).end_of_turn,
              std::vector<std::string>{"<|im_end|>"});
}

}  // namespace
}  // namespace edgelm::serve
