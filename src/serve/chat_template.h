// Chat messages to prompt text. A GGUF's `tokenizer.chat_template` is a Jinja program;
// edgelm does not run Jinja, it recognises the families small models ship with by their
// markers (ChatML, Llama 3, Llama 2, Gemma, Phi-3, Zephyr) and writes their layout itself.
// A model with no template, or one edgelm does not know, gets the plain template below.
// docs/serving.md lists them.
#pragma once

#include <string>
#include <vector>

#include "serve/api_request.h"
#include "tokenizer/tokenizer.h"

namespace edgelm::serve {

enum class ChatFormat { Plain, ChatML, Llama3, Llama2, Gemma, Phi3, Zephyr };

// The format for a GGUF's tokenizer.chat_template (empty: none).
ChatFormat detect_chat_format(const std::string& jinja_template);
const char* chat_format_name(ChatFormat f);

struct ChatPrompt {
    std::string text;           // the prompt, ending where the assistant's reply starts
    bool parse_special = true;  // the text names control tokens (<|im_start|>, ...)
    // What ends the assistant's turn: a control token's text (matched to a vocabulary
    // entry as a token id) or, for the plain template, a stop string.
    std::vector<std::string> end_of_turn;
};

// Plain: "System: ...\n\nUser: ...\n\nAssistant: ...\n\n", ending with "Assistant:",
// and "\n\nUser:" ends the reply.
ChatPrompt render_chat(ChatFormat f, const std::vector<ChatMessage>& messages);

// What ends the reply to a rendered prompt: end-of-turn markers that are vocabulary
// entries as token ids, the others as stop strings.
struct TurnEnd {
    std::vector<TokenId> ids;
    std::vector<std::string> strings;
};
TurnEnd turn_end(const ChatPrompt& prompt, const Vocabulary& vocab);

}  // namespace edgelm::serve
