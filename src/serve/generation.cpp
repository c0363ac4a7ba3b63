// POST /v1/completions and /v1/chat/completions: a request from parsing to its last byte,
// answered from the response cache, by the local model, or by the upstream (fallback).
#include <climits>
#include <random>

#include "serve/client_connection.h"
#include "serve/server_handlers.h"
#include "serve/text_stream.h"

namespace edgelm::serve {

using nlohmann::json;

namespace {

// edgelm's own request fields, removed before a request goes to an OpenAI-compatible
// upstream (OpenAI refuses arguments it does not know).
const char* const kLocalFields[] = {"fallback", "lora",  "ignore_eos",
                                    "top_k",    "min_p", "repeat_penalty"};

}  // namespace

// One generation request. Shared (by pointer) with the stream provider, which runs after
// the route handler has returned.
struct Generation {
    Generation(Server::Handlers& handlers, bool is_chat)
        : h(handlers),
          s(handlers.s),
          chat(is_chat),
          endpoint(is_chat ? "chat_completions" : "completions") {}

    Server::Handlers& h;
    Server& s;
    bool chat;
    std::string endpoint;
    json body;  // as received, for the upstream
    GenerationRequest g;
    const ServedModel* m = nullptr;
    std::string id;
    uint64_t number = 0;  // of the id
    int64_t created = static_cast<int64_t>(std::time(nullptr));
    Clock::time_point t0 = Clock::now();
    std::shared_ptr<Job> job = std::make_shared<Job>();
    std::vector<std::string> stops;
    bool may_fall_back = false;
    std::string cache_key;  // empty: not cacheable

    // Following the local job: the text so far, and how it ended.
    TextStream text{{}};
    int used = 0;  // tokens up to and including the one that completed a stop string
    FinishReason reason = FinishReason::None;
    std::string held;  // text and tokens not sent yet (a stream's confidence window)
    std::vector<SampledToken> held_tokens;

    const Tokenizer& tok() const { return m->model->tokenizer(); }
    void prepare();
    bool fits() const { return static_cast<int>(job->prompt.size()) <= m->engine->n_ctx(); }
    RequestError too_long() const;
    template <typename Emit>
    void follow(const ClientConnection& conn, Emit&& emit, int limit = INT_MAX);
    double confidence(const std::vector<SampledToken>& tokens) const;
    bool low_confidence(const std::vector<SampledToken>& tokens) const {
        return may_fall_back && s.options_.fallback.confidence >= 0 && !tokens.empty() &&
               confidence(tokens) < s.options_.fallback.confidence;
    }
    json choice(const std::string& piece, const std::vector<SampledToken>& tokens, size_t offset,
                FinishReason finish, bool delta) const;
    json envelope(json choices, bool chunk) const;
    json usage() const {
        return usage_body(static_cast<int>(job->prompt.size()), used, job->cached_tokens);
    }
    RequestError failure() const;
    std::string upstream_body() const;
    void count_fallback(const std::string& why) {
        s.metrics_.add("edgelm_fallback_total", {{"reason", why}, {"variant", m->variant}});
    }
    void count_upstream_error(const UpstreamReply& r) {
        const char* kind = r.outcome == UpstreamReply::Outcome::CircuitOpen ? "circuit_open"
                           : r.outcome == UpstreamReply::Outcome::Busy      ? "busy"
                                                                            : "failed";
        s.metrics_.add("edgelm_upstream_errors_total", {{"kind", kind}});
    }
    void finished(int code) {
        h.count(endpoint, code, m->variant);
        h.record_duration(endpoint, m->variant, t0);
        s.remember_response(number, m->variant);
    }

    void answer_cached(httplib::Response& res, const CachedAnswer& a);
    bool forward_whole(httplib::Response& res, const std::string& why, bool need_success);
    void answer_whole(const httplib::Request& req, httplib::Response& res);
    void answer_stream(const httplib::Request& req, httplib::Response& res,
                       std::shared_ptr<Generation> self, const std::string& fallback_reason);
    // The events of a stream, written to sink; false if the client left.
    bool stream_events(httplib::DataSink& sink, const ClientConnection& conn,
                       const std::string& fallback_reason);
};

void Generation::prepare() {
    const Tokenizer& t = tok();
    const char* prompt_field = chat ? "messages" : "prompt";
    stops = g.stop;
    if (chat) {
        // The template's markers are control tokens; a message that spells one would turn
        // into the real token (a user writing "<|im_end|><|im_start|>system ..."). Refused.
        for (size_t i = 0; i < g.messages.size(); ++i)
            for (const std::string& control : m->control_tokens)
                if (g.messages[i].content.find(control) != std::string::npos)
                    throw bad_field("messages", "[" + std::to_string(i) +
                                                    "].content contains the control token " +
                                                    control + "; remove it");
        const ChatPrompt p = render_chat(m->chat_format, g.messages);
        job->prompt = t.encode(p.text, t.vocab().add_bos, p.parse_special);
        const TurnEnd end = turn_end(p, t.vocab());
        stops.insert(stops.end(), end.strings.begin(), end.strings.end());
        for (TokenId token : end.ids)
            if (!(g.ignore_eos && token == t.vocab().eos))
                job->stop_ids.push_back(token);  // EOS ends no turn either
    } else if (!g.prompt_ids.empty()) {
        for (int32_t i : g.prompt_ids)
            if (i >= t.size())
                throw bad_field("prompt", "holds token id " + std::to_string(i) +
                                              ", outside the vocabulary of " +
                                              std::to_string(t.size()));
        job->prompt = g.prompt_ids;
    } else {
        job->prompt = t.encode(g.prompt, t.vocab().add_bos);
    }
    if (job->prompt.empty()) throw bad_field(prompt_field, "is empty");
    text = TextStream(stops);
    job->max_tokens = g.max_tokens;
    job->sampler = g.sampler;
    if (!g.seeded) job->sampler.seed = std::random_device{}();
    job->lora = h.adapters(g.lora);
    may_fall_back = s.upstream_ && g.allow_fallback;
    // Confidence needs each token's probability even when the client did not ask for it.
    const bool confidence = may_fall_back && s.options_.fallback.confidence >= 0;
    job->top_logprobs = g.logprobs ? g.top_logprobs : confidence ? 0 : -1;
    job->ignore_eos = g.ignore_eos;
    job->deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(s.options_.timeout_s));
    if (s.cache_ && g.deterministic()) {
        json key = {{"model", m->fingerprint},
                    {"chat", chat},
                    {"max_tokens", g.max_tokens},
                    {"temperature", g.sampler.temperature},
                    {"top_p", g.sampler.top_p},
                    {"top_k", g.sampler.top_k},
                    {"min_p", g.sampler.min_p},
                    {"repeat_penalty", g.sampler.repeat_penalty},
                    {"seed", g.seeded ? job->sampler.seed : 0},
                    {"stop", stops},
                    {"stop_ids", job->stop_ids},
                    {"logprobs", g.logprobs},
                    {"top_logprobs", g.top_logprobs},
                    {"ignore_eos", g.ignore_eos},
                    {"prompt", job->prompt}};
        for (const LoraBinding& b : job->lora)
            key["lora"].push_back({b.adapter->content_hash(), b.scale});
        cache_key = key.dump();
    }
}

RequestError Generation::too_long() const {
    return RequestError(400,
                        "the prompt has " + std::to_string(job->prompt.size()) +
                            " tokens, more than the context of " +
                            std::to_string(m->engine->n_ctx()) +
                            "; shorten it or start the server with a larger --ctx",
                        chat ? "messages" : "prompt", "context_length_exceeded");
}

template <typename Emit>
void Generation::follow(const ClientConnection& conn, Emit&& emit, int limit) {
    std::vector<SampledToken> fresh;
    while (reason == FinishReason::None && used < limit) {
        fresh.clear();
        const FinishReason r = job->wait(fresh, kPoll);
        std::string piece;
        size_t n = 0;
        for (; n < fresh.size() && !text.stopped(); ++n)
            piece += text.push(tok().token_to_piece(fresh[n].id));
        fresh.resize(n);
        used += static_cast<int>(n);
        if (text.stopped()) {
            m->engine->cancel(*job);
            reason = FinishReason::Stop;
        } else if (r != FinishReason::None) {
            reason = r;
            piece += text.flush();
        }
        if ((!piece.empty() || !fresh.empty()) && !emit(piece, fresh))
            reason = FinishReason::Cancelled;
        if (reason == FinishReason::None && !conn.alive()) reason = FinishReason::Cancelled;
    }
    if (reason == FinishReason::Cancelled) {
        m->engine->cancel(*job);
        s.metrics_.add("edgelm_cancelled_total",
                       {{"reason", "disconnected"}, {"variant", m->variant}});
    } else if (reason == FinishReason::Timeout) {
        s.metrics_.add("edgelm_cancelled_total", {{"reason", "timeout"}, {"variant", m->variant}});
    }
}

double Generation::confidence(const std::vector<SampledToken>& tokens) const {
    double sum = 0;
    for (const SampledToken& t : tokens) sum += std::exp(static_cast<double>(t.logprob));
    return sum / static_cast<double>(tokens.size());
}

json Generation::choice(const std::string& piece, const std::vector<SampledToken>& tokens,
                        size_t offset, FinishReason finish, bool delta) const {
    json c = {{"index", 0}};
    c["finish_reason"] =
        finish == FinishReason::None ? json(nullptr) : json(finish_reason_name(finish));
    c["logprobs"] = !g.logprobs ? json(nullptr)
                    : chat      ? chat_logprobs(tok(), tokens)
                                : completion_logprobs(tok(), tokens, offset);
    if (!chat)
        c["text"] = piece;
    else if (!delta)
        c["message"] = {{"role", "assistant"}, {"content", piece}};
    else if (!piece.empty())
        c["delta"] = {{"content", piece}};
    else if (finish == FinishReason::None && tokens.empty())
        c["delta"] = {{"role", "assistant"}, {"content", ""}};
    else
        c["delta"] = json::object();
    return c;
}

json Generation::envelope(json choices, bool chunk) const {
    const char* object = !chat   ? "text_completion"
                         : chunk ? "chat.completion.chunk"
                                 : "chat.completion";
    return {{"id", id},
            {"object", object},
            {"created", created},
            {"model", m->model_id},
            {"choices", std::move(choices)}};
}

RequestError Generation::failure() const {
    if (reason == FinishReason::Timeout) return h.deadline_error();
    return RequestError(500, "generation failed: " + job->error(), "", "server_error");
}

std::string Generation::upstream_body() const {
    json b = body;
    for (const char* f : kLocalFields) b.erase(f);
    return b.dump();
}

void Generation::answer_cached(httplib::Response& res, const CachedAnswer& a) {
    replace_header(res, "X-Edgelm-Source", "cache");
    used = a.completion_tokens;
    if (!g.stream) {
        json r = envelope(json::array({choice(a.text, a.tokens, 0, a.reason, false)}), false);
        r["usage"] = usage_body(a.prompt_tokens, a.completion_tokens, 0);
        res.set_content(dump(r), "application/json");
    } else {
        std::string events;
        auto add = [&](const json& j) { events += "data: " + dump(j) + "\n\n"; };
        if (chat) add(envelope(json::array({choice("", {}, 0, FinishReason::None, true)}), true));
        add(envelope(json::array({choice(a.text, a.tokens, 0, FinishReason::None, true)}), true));
        json last = envelope(json::array({choice("", {}, a.text.size(), a.reason, true)}), true);
        last["usage"] = usage_body(a.prompt_tokens, a.completion_tokens, 0);
        add(last);
        events += "data: [DONE]\n\n";
        res.set_header("Cache-Control", "no-cache");
        res.set_content(events, "text/event-stream");
    }
    finished(200);
}

bool Generation::forward_whole(httplib::Response& res, const std::string& why, bool need_success) {
    count_fallback(why);
    const UpstreamReply r = s.upstream_->post(chat ? "/chat/completions" : "/completions",
                                              upstream_body(), job->deadline);
    if (r.outcome != UpstreamReply::Outcome::Ok ||
        (need_success && (r.status < 200 || r.status >= 300))) {
        count_upstream_error(r);
        return false;
    }
    res.status = r.status;
    replace_header(res, "X-Edgelm-Source", "fallback");
    res.set_content(r.body, r.content_type.empty() ? "application/json" : r.content_type);
    h.count(endpoint, r.status, m->variant);
    h.record_duration(endpoint, m->variant, t0);
    return true;
}

void Generation::answer_whole(const httplib::Request& req, httplib::Response& res) {
    const ClientConnection conn(req.remote_addr, req.remote_port, req.local_port);
    std::string out;
    std::vector<SampledToken> tokens;
    follow(conn, [&](const std::string& piece, std::vector<SampledToken>& fresh) {
        out += piece;
        tokens.insert(tokens.end(), fresh.begin(), fresh.end());
        return true;
    });
    if (reason == FinishReason::Cancelled) return;  // nobody is there to answer
    if (reason != FinishReason::Stop && reason != FinishReason::Length) throw failure();
    h.record_generation(*job, used, t0, m->variant);
    if (low_confidence(tokens) && forward_whole(res, "confidence", true)) return;
    json r = envelope(json::array({choice(out, tokens, 0, reason, false)}), false);
    r["usage"] = usage();
    res.set_content(dump(r), "application/json");
    if (!cache_key.empty())
        s.cache_->put(cache_key, {out, g.logprobs ? tokens : std::vector<SampledToken>{}, reason,
                                  static_cast<int>(job->prompt.size()), used});
    finished(200);
}

// Server-sent events: each chunk is "data: JSON\n\n", then "data: [DONE]\n\n". With a
// fallback reason the upstream's stream is relayed as it comes.
void Generation::answer_stream(const httplib::Request& req, httplib::Response& res,
                               std::shared_ptr<Generation> self,
                               const std::string& fallback_reason) {
    auto in_flight = std::make_shared<InFlight>(s.in_flight_);
    auto conn =
        std::make_shared<ClientConnection>(req.remote_addr, req.remote_port, req.local_port);
    res.set_header("Cache-Control", "no-cache");
    if (!fallback_reason.empty()) replace_header(res, "X-Edgelm-Source", "fallback");
    res.set_chunked_content_provider(
        "text/event-stream",
        [self, in_flight, conn, fallback_reason](size_t, httplib::DataSink& sink) {
            // cpp-httplib does not catch what a content provider throws: nothing may escape.
            try {
                return self->stream_events(sink, *conn, fallback_reason);
            } catch (const std::exception&) {
                self->m->engine->cancel(*self->job);
                return false;
            }
        },
        // However the stream ended (a client that left, an upstream that broke off), the
        // local job must not keep its slot.
        [self](bool) {
            if (self->job->finish_reason() == FinishReason::None)
                self->m->engine->cancel(*self->job);
        });
}

bool Generation::stream_events(httplib::DataSink& sink, const ClientConnection& conn,
                               const std::string& fallback_reason) {
    auto write = [&](const std::string& bytes) { return sink.write(bytes.data(), bytes.size()); };
    auto send = [&](const json& j) { return write("data: " + dump(j) + "\n\n"); };
    auto end = [&](int code) {
        write("data: [DONE]\n\n");
        sink.done();
        finished(code);
        return true;
    };
    if (!fallback_reason.empty()) {
        count_fallback(fallback_reason);
        bool client_left = false;
        const UpstreamReply r =
            s.upstream_->post(chat ? "/chat/completions" : "/completions", upstream_body(),
                              job->deadline, [&](const char* d, size_t n) {
                                  if (sink.write(d, n)) return true;
                                  client_left = true;
                                  return false;
                              });
        if (client_left) return false;
        if (r.outcome == UpstreamReply::Outcome::Ok && r.status >= 200 && r.status < 300) {
            if (!job->prompt.empty()) m->engine->cancel(*job);  // a confidence fallback
            sink.done();  // the upstream's stream ended with its own [DONE]
            h.count(endpoint, r.status, m->variant);
            h.record_duration(endpoint, m->variant, t0);
            return true;
        }
        if (r.outcome != UpstreamReply::Outcome::Ok) count_upstream_error(r);
        if (r.streamed) {  // broke off midway: the client has part of an upstream answer
            send(error_body(RequestError(502, "the upstream stream broke off: " + r.error, "",
                                         "upstream_error")));
            return end(502);
        }
        if (fallback_reason != "confidence") {
            // Nothing local to give instead (the prompt did not fit, or the slots were full).
            const RequestError e =
                r.outcome == UpstreamReply::Outcome::Ok
                    ? RequestError(r.status, "the upstream refused the request: " + r.body, "",
                                   "upstream_error")
                    : RequestError(503, "no local slot and the upstream failed: " + r.error, "",
                                   "upstream_error");
            send(error_body(e));
            return end(e.status());
        }
        // A confidence fallback whose upstream failed: the local answer after all.
    }
    if (chat && !send(envelope(json::array({choice("", {}, 0, FinishReason::None, true)}), true))) {
        m->engine->cancel(*job);
        return false;
    }
    size_t offset = 0;
    auto emit = [&](const std::string& piece, std::vector<SampledToken>& fresh) {
        // Tokens whose text is held back (it may begin a stop string) go with the text
        // they end in, unless the client asked for their log-probabilities.
        if (piece.empty() && !g.logprobs) return true;
        const bool ok = send(
            envelope(json::array({choice(piece, fresh, offset, FinishReason::None, true)}), true));
        offset += piece.size();
        return ok;
    };
    if ((!held.empty() || (g.logprobs && !held_tokens.empty())) && !emit(held, held_tokens)) {
        m->engine->cancel(*job);
        return false;
    }
    follow(conn, emit);
    if (reason == FinishReason::Cancelled) return false;
    if (reason == FinishReason::Stop || reason == FinishReason::Length) {
        json last = envelope(json::array({choice("", {}, offset, reason, true)}), true);
        last["usage"] = usage();
        send(last);
        if (g.include_usage) {
            json u = envelope(json::array(), true);
            u["usage"] = usage();
            send(u);
        }
        h.record_generation(*job, used, t0, m->variant);
    } else {
        send(error_body(failure()));
    }
    return end(200);
}

void Server::Handlers::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto gen = std::make_shared<Generation>(*this, chat);
    Generation& G = *gen;
    G.body = parse_body(req.body);
    G.g = chat ? parse_chat_request(G.body) : parse_completion_request(G.body);
    G.m = &choose(req, G.g.user);
    replace_header(res, "X-Edgelm-Variant", G.m->variant);
    G.prepare();
    G.number = s.next_id_++;
    s.remember_response(G.number, "");  // the ring place held an id 100,000 older
    G.id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(G.number);
    const FallbackPolicy& policy = s.options_.fallback;

    if (!G.fits()) {
        if (!(G.may_fall_back && policy.on_length)) throw G.too_long();
        if (G.g.stream) {
            G.job->prompt.clear();  // nothing runs locally
            return G.answer_stream(req, res, gen, "length");
        }
        if (G.forward_whole(res, "length", false)) return;
        throw G.too_long();
    }
    if (!G.cache_key.empty()) {
        if (auto hit = s.cache_->get(G.cache_key)) {
            s.metrics_.add("edgelm_response_cache_hits_total", {{"variant", G.m->variant}});
            return G.answer_cached(res, *hit);
        }
        s.metrics_.add("edgelm_response_cache_misses_total", {{"variant", G.m->variant}});
    }
    if (!submit(*G.m->engine, {G.job})) {
        if (!(G.may_fall_back && policy.on_overload)) throw overloaded(*G.m->engine);
        if (G.g.stream) {
            G.job->prompt.clear();
            return G.answer_stream(req, res, gen, "overload");
        }
        if (G.forward_whole(res, "overload", false)) return;
        throw overloaded(*G.m->engine);
    }
    if (!G.g.stream) return G.answer_whole(req, res);
    // A stream decides on its first tokens, before its first byte, whether to fall back.
    std::string fallback;
    if (G.may_fall_back && policy.confidence >= 0) {
        const ClientConnection conn(req.remote_addr, req.remote_port, req.local_port);
        G.follow(
            conn,
            [&](const std::string& piece, std::vector<SampledToken>& fresh) {
                G.held += piece;
                G.held_tokens.insert(G.held_tokens.end(), fresh.begin(), fresh.end());
                return true;
            },
            policy.confidence_tokens);
        if (G.reason == FinishReason::Cancelled) return;
        if (G.reason == FinishReason::Timeout || G.reason == FinishReason::Error) throw G.failure();
        if (G.low_confidence(G.held_tokens)) fallback = "confidence";
    }
    G.answer_stream(req, res, gen, fallback);
}

}  // namespace edgelm::serve
