// edgelm chat MODEL: a conversation in the terminal, with the chat template edgelm serve
// uses (src/serve/chat_template.h). The KV cache is kept between turns (each turn runs
// only what is new), replies stream as they are generated, Ctrl-C stops a reply (not the
// program), /reset starts over, /save FILE writes the conversation as OpenAI-style JSON.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "runtime/session.h"
#include "serve/chat_template.h"
#include "serve/text_stream.h"

namespace edgelm::cli {

namespace {

std::atomic<bool> interrupted{false};
extern "C" void on_interrupt(int) {
    interrupted = true;
}

struct ChatOptions {
    std::string model, system;
    std::vector<std::string> lora;
    int n_predict = 512, threads = default_threads(), ctx = 0;
    SamplerParams sampler;
};

void save_conversation(const std::string& path, const std::vector<serve::ChatMessage>& messages) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& m : messages) j.push_back({{"role", m.role}, {"content", m.content}});
    // A model can write bytes that are not UTF-8: they are saved as U+FFFD.
    const std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    AtomicFileWriter w(path);
    w.write(text.data(), text.size());
    w.commit();
}

void run_chat(const ChatOptions& o) {
    auto model = Model::load(o.model);
    SessionParams sp;
    sp.n_ctx = o.ctx;
    sp.n_threads = o.threads;
    sp.sampler = o.sampler;
    sp.lora = load_lora_arguments(o.lora, model->config());
    if (o.n_predict < 1) throw ArgumentError("chat: -n must be >= 1");
    Session session(model, sp);
    const Tokenizer& tok = model->tokenizer();
    const serve::ChatFormat format =
        serve::detect_chat_format(model->file().get_string("tokenizer.chat_template").value_or(""));
    const bool tty = isatty(STDIN_FILENO);
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);

    std::vector<serve::ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    if (tty)
        std::fprintf(stderr,
                     "edgelm chat: %s template, %d tokens of context. /reset, /save FILE, /quit; "
                     "Ctrl-C stops a reply.\n",
                     serve::chat_format_name(format), session.n_ctx());
    std::string line;
    for (;;) {
        if (tty) std::fputs("> ", stdout);
        std::fflush(stdout);
        if (!std::getline(std::cin, line)) break;
        interrupted = false;
        if (line.empty()) continue;
        if (line == "/quit" || line == "/exit") break;
        if (line == "/reset") {
            messages.resize(o.system.empty() ? 0 : 1);
            session.reset();
            std::printf("[conversation reset]\n");
            continue;
        }
        if (line.rfind("/save", 0) == 0) {
            const std::string path = line.size() > 6 ? line.substr(6) : "";
            if (path.empty()) {
                std::printf("[usage: /save FILE]\n");
                continue;
            }
            try {
                save_conversation(path, messages);
                std::printf("[saved %zu messages to %s]\n", messages.size(), path.c_str());
            } catch (const Error& e) {
                std::printf("[could not save: %s]\n", e.what());
            }
            continue;
        }
        messages.push_back({"user", line});
        serve::ChatPrompt p = serve::render_chat(format, messages);
        std::vector<TokenId> prompt = tok.encode(p.text, tok.vocab().add_bos, p.parse_special);
        // The whole conversation no longer fits: the oldest turns go (the system message stays).
        const size_t first = o.system.empty() ? 0 : 1;
        int dropped = 0;
        while (static_cast<int>(prompt.size()) >= session.n_ctx() && messages.size() > first + 1) {
            // Whole turns: the user's message and the reply to it.
            do {
                messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first));
                ++dropped;
            } while (messages.size() > first + 1 && messages[first].role != "user");
            p = serve::render_chat(format, messages);
            prompt = tok.encode(p.text, tok.vocab().add_bos, p.parse_special);
        }
        if (dropped > 0)
            std::printf("[context full: dropped the %d oldest message%s to fit %d tokens]\n",
                        dropped, dropped == 1 ? "" : "s", session.n_ctx());
        if (static_cast<int>(prompt.size()) >= session.n_ctx()) {
            std::printf(
                "[this message alone has %zu tokens, more than the context of %d; shorten it]\n",
                prompt.size(), session.n_ctx());
            messages.pop_back();
            continue;
        }
        // Only what is new runs: the cache holds the conversation so far.
        size_t keep = 0;
        const auto& cached = session.tokens();
        while (keep < cached.size() && keep + 1 < prompt.size() && cached[keep] == prompt[keep])
            ++keep;
        session.truncate(static_cast<int>(keep));
        session.eval(std::span<const TokenId>(prompt).subspan(keep));

        const serve::TurnEnd end = serve::turn_end(p, tok.vocab());
        const std::vector<TokenId>& stop_ids = end.ids;
        const std::vector<std::string>& stops = end.strings;
        serve::TextStream text(stops);
        std::string reply;
        const char* ending = nullptr;
        for (int n = 0;; ++n) {
            if (interrupted) {
                ending = "[stopped]";
                break;
            }
            if (n == o.n_predict) {
                ending = "[reply cut at -n tokens]";
                break;
            }
            const TokenId t = session.sample();
            if (t == tok.vocab().eos ||
                std::find(stop_ids.begin(), stop_ids.end(), t) != stop_ids.end())
                break;
            const std::string piece = text.push(tok.token_to_piece(t));
            reply += piece;
            std::fputs(piece.c_str(), stdout);
            std::fflush(stdout);
            if (text.stopped()) break;
            if (session.position() >= session.n_ctx()) {
                ending =
                    "[context full: reply cut; the oldest turns are dropped next time, or /reset]";
                break;
            }
            session.eval(std::span<const TokenId>(&t, 1));
        }
        const std::string rest = text.flush();
        reply += rest;
        std::fputs(rest.c_str(), stdout);
        std::printf("\n%s%s", ending ? ending : "", ending ? "\n" : "");
        messages.push_back({"assistant", reply});
    }
}

}  // namespace

void add_chat(CLI::App& app) {
    auto o = std::make_shared<ChatOptions>();
    CLI::App* sub = app.add_subcommand("chat", "Chat with a model in the terminal");
    sub->add_option("model", o->model, "GGUF model")->required();
    sub->add_option("--system", o->system, "System message");
    sub->add_option("--lora", o->lora, "FILE[:SCALE]: apply a LoRA adapter; repeatable");
    sub->add_option("-n,--n-predict", o->n_predict, "Most tokens per reply")->capture_default_str();
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_option("-c,--ctx", o->ctx, "Context size (0 = the model's)")->capture_default_str();
    sub->add_option("--temp", o->sampler.temperature, "Temperature (0 = greedy)")
        ->capture_default_str();
    sub->add_option("--top-k", o->sampler.top_k, "Top-k (0 = off)")->capture_default_str();
    sub->add_option("--top-p", o->sampler.top_p, "Top-p (1 = off)")->capture_default_str();
    sub->add_option("-s,--seed", o->sampler.seed, "Sampling seed")->capture_default_str();
    sub->callback([o] { run_chat(*o); });
}

}  // namespace edgelm::cli
