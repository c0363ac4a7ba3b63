#include "serve/chat_template.h"

#include <algorithm>

namespace edgelm::serve {

ChatFormat detect_chat_format(const std::string& t) {
    if (t.find("<|im_start|>") != std::string::npos) return ChatFormat::ChatML;
    if (t.find("<|start_header_id|>") != std::string::npos) return ChatFormat::Llama3;
    if (t.find("<start_of_turn>") != std::string::npos) return ChatFormat::Gemma;
    if (t.find("<|user|>") != std::string::npos)
        return t.find("<|end|>") != std::string::npos ? ChatFormat::Phi3 : ChatFormat::Zephyr;
    if (t.find("[INST]") != std::string::npos) return ChatFormat::Llama2;
    return ChatFormat::Plain;
}

const char* chat_format_name(ChatFormat f) {
    switch (f) {
        case ChatFormat::ChatML:
            return "chatml";
        case ChatFormat::Llama3:
            return "llama3";
        case ChatFormat::Llama2:
            return "llama2";
        case ChatFormat::Gemma:
            return "gemma";
        case ChatFormat::Phi3:
            return "phi3";
        case ChatFormat::Zephyr:
            return "zephyr";
        case ChatFormat::Plain:
            break;
    }
    return "plain";
}

ChatPrompt render_chat(ChatFormat f, const std::vector<ChatMessage>& messages) {
    ChatPrompt p;
    std::string& s = p.text;
    switch (f) {
        case ChatFormat::ChatML:
            for (const ChatMessage& m : messages)
                s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            s += "<|im_start|>assistant\n";
            p.end_of_turn = {"<|im_end|>"};
            break;
        case ChatFormat::Llama3:
            for (const ChatMessage& m : messages)
                s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content +
                     "<|eot_id|>";
            s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            p.end_of_turn = {"<|eot_id|>"};
            break;
        case ChatFormat::Llama2: {
            // [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s><s>[INST] ...
            std::string system;
            bool first = true;
            for (const ChatMessage& m : messages) {
                if (m.role == "system") {
                    system += m.content;
                } else if (m.role == "user") {
                    if (!first) s += "<s>";
                    s += "[INST] ";
                    if (!system.empty()) s += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
                    system.clear();
                    s += m.content + " [/INST]";
                    first = false;
                } else {
                    s += " " + m.content + " </s>";
                }
            }
            p.end_of_turn = {"</s>"};
            break;
        }
        case ChatFormat::Gemma: {  // no system role: it opens the first user turn
            std::string system;
            for (const ChatMessage& m : messages) {
                if (m.role == "system") {
                    system += m.content + "\n\n";
                    continue;
                }
                const std::string role = m.role == "assistant" ? "model" : "user";
                s += "<start_of_turn>" + role + "\n" + (role == "user" ? system : "") + m.content +
                     "<end_of_turn>\n";
                if (role == "user") system.clear();
            }
            s += "<start_of_turn>model\n";
            p.end_of_turn = {"<end_of_turn>"};
            break;
        }
        case ChatFormat::Phi3:
            for (const ChatMessage& m : messages)
                s += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
            s += "<|assistant|>\n";
            p.end_of_turn = {"<|end|>"};
            break;
        case ChatFormat::Zephyr:
            for (const ChatMessage& m : messages)
                s += "<|" + m.role + "|>\n" + m.content + "</s>\n";
            s += "<|assistant|>\n";
            p.end_of_turn = {"</s>"};
            break;
        case ChatFormat::Plain:
            for (const ChatMessage& m : messages) {
                const std::string role = m.role == "system"      ? "System"
                                         : m.role == "assistant" ? "Assistant"
                                                                 : "User";
                s += role + ": " + m.content + "\n\n";
            }
            s += "Assistant:";
            p.parse_special = false;
            p.end_of_turn = {"\n\nUser:"};
            break;
    }
    return p;
}

TurnEnd turn_end(const ChatPrompt& prompt, const Vocabulary& vocab) {
    TurnEnd end;
    for (const std::string& marker : prompt.end_of_turn) {
        const auto it = std::find(vocab.tokens.begin(), vocab.tokens.end(), marker);
        if (it != vocab.tokens.end())
            end.ids.push_back(static_cast<TokenId>(it - vocab.tokens.begin()));
        else
            end.strings.push_back(marker);
    }
    return end;
}

}  // namespace edgelm::serve
