#include "serve/server.h"

#include <httplib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "runtime/sequence_classifier.h"
#include "serve/api_request.h"
#include "serve/chat_template.h"
#include "serve/client_connection.h"
#include "serve/openai_format.h"
#include "serve/text_stream.h"

namespace edgelm::serve {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kPoll{20};  // how often a waiting request checks its client
const char* const kVariant = "a";  // the only variant until --model-b

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// Resident anonymous memory (RssAnon): what the server itself allocated, without the
// mapped model file's pages, which the kernel may drop and re-read.
double resident_anonymous_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("RssAnon:", 0) == 0) return std::stod(line.substr(8)) * 1024.0;
    return 0;
}

// The time a request started, for the access log (one thread serves a request from
// routing to the last byte of its stream).
thread_local Clock::time_point request_start;

// Keeps the server's in-flight count while a request (or its stream) is being answered.
struct InFlight {
    std::atomic<int>& count;
    explicit InFlight(std::atomic<int>& c) : count(c) { ++count; }
    ~InFlight() { --count; }
};

}  // namespace

struct Server::Handlers {
    Server& s;

    void declare_metrics();
    void count(const std::string& endpoint, int code) {
        s.metrics_.add(
            "edgelm_requests_total",
            {{"endpoint", endpoint}, {"code", std::to_string(code)}, {"variant", kVariant}});
    }
    void reject(httplib::Response& res, const std::string& endpoint, const RequestError& e,
                const std::string& reason) {
        res.status = e.status();
        res.set_content(dump(error_body(e)), "application/json");
        count(endpoint, e.status());
        s.metrics_.add("edgelm_rejected_total", {{"reason", reason}, {"variant", kVariant}});
    }
    // Runs a handler body: RequestErrors become OpenAI error responses.
    template <typename F>
    void guarded(httplib::Response& res, const std::string& endpoint, F&& body) {
        try {
            if (!s.ready_)
                throw RequestError(503, "the model is loading; retry shortly", "", "loading");
            if (s.draining_)
                throw RequestError(503, "the server is shutting down", "", "shutting_down");
            body();
        } catch (const RequestError& e) {
            if (e.status() == 503) res.set_header("Retry-After", "1");
            reject(res, endpoint, e,
                   e.status() == 503   ? e.code()
                   : e.status() == 413 ? "too_large"
                                       : "bad_request");
        } catch (const ArgumentError& e) {  // the runtime refused a value the parser let by
            reject(res, endpoint, RequestError(400, e.what(), "", "invalid_value"), "bad_request");
        }
    }

    std::vector<LoraBinding> adapters(const std::vector<LoraChoice>& choices) const {
        std::vector<LoraBinding> out;
        for (const LoraChoice& c : choices) {
            auto it = s.options_.adapters.find(c.name);
            if (it == s.options_.adapters.end())
                throw bad_field("lora", "names an adapter this server has not loaded: \"" + c.name +
                                            "\" (start it with --lora " + c.name + "=FILE)");
            out.push_back({it->second, c.scale});
        }
        return out;
    }

    // Submits jobs (all or none) or throws 503.
    void submit(const std::vector<std::shared_ptr<Job>>& jobs) {
        for (size_t i = 0; i < jobs.size(); ++i)
            if (!s.engine_->submit(jobs[i])) {
                for (size_t j = 0; j < i; ++j) s.engine_->cancel(*jobs[j]);
                throw RequestError(503,
                                   "the server is busy: all " + std::to_string(s.engine_->slots()) +
                                       " slots and the queue are taken; retry later",
                                   "", "overloaded");
            }
    }

    void generate(const httplib::Request& req, httplib::Response& res, bool chat);
    void pool(const httplib::Request& req, httplib::Response& res, bool classify);
    void record_generation(const Job& job, int completion_tokens, Clock::time_point t0);
};

void Server::Handlers::declare_metrics() {
    Metrics& m = s.metrics_;
    using T = Metrics::Type;
    m.declare("edgelm_requests_total", T::Counter,
              "Requests answered, by endpoint, status code and variant.");
    m.declare("edgelm_rejected_total", T::Counter, "Requests refused before running, by reason.");
    m.declare("edgelm_cancelled_total", T::Counter,
              "Requests stopped early: the client left, or --timeout passed.");
    m.declare("edgelm_prompt_tokens_total", T::Counter, "Prompt tokens of finished requests.");
    m.declare("edgelm_generated_tokens_total", T::Counter, "Tokens generated.");
    m.declare("edgelm_prefix_cache_hit_tokens_total", T::Counter,
              "Prompt tokens whose keys and values a slot already held.");
    m.declare("edgelm_request_duration_seconds", T::Histogram, "Time from request to last byte.",
              latency_buckets());
    m.declare("edgelm_time_to_first_token_seconds", T::Histogram,
              "Time from request to the first generated token.", latency_buckets());
    m.declare("edgelm_time_per_output_token_seconds", T::Histogram,
              "Mean time between generated tokens of a request.", latency_buckets());
    m.declare("edgelm_queue_wait_seconds", T::Histogram, "Time a request waited for a slot.",
              latency_buckets());
    m.declare("edgelm_slots_busy", T::Gauge, "Slots running a request.");
    m.declare("edgelm_slots", T::Gauge, "Slots (--slots).");
    m.declare("edgelm_queue_depth", T::Gauge, "Requests waiting for a slot.");
    m.declare("edgelm_resident_anonymous_memory_bytes", T::Gauge,
              "Resident anonymous memory of the server (RssAnon; the mapped model file excluded).");
    m.declare("edgelm_model_info", T::Gauge, "The model being served (value 1).");
}

void Server::Handlers::record_generation(const Job& job, int completion_tokens,
                                         Clock::time_point t0) {
    const Labels v = {{"variant", kVariant}};
    Metrics& m = s.metrics_;
    const auto end = Clock::now();
    m.add("edgelm_prompt_tokens_total", v, static_cast<double>(job.prompt.size()));
    m.add("edgelm_generated_tokens_total", v, completion_tokens);
    m.add("edgelm_prefix_cache_hit_tokens_total", v, job.cached_tokens);
    if (job.started_at != Clock::time_point{})
        m.observe("edgelm_queue_wait_seconds", v, seconds_between(job.queued_at, job.started_at));
    if (completion_tokens > 0) {
        m.observe("edgelm_time_to_first_token_seconds", v, seconds_between(t0, job.first_token_at));
        if (completion_tokens > 1)
            m.observe("edgelm_time_per_output_token_seconds", v,
                      seconds_between(job.first_token_at, end) / (completion_tokens - 1));
    }
}

// One generation request from parsing to its last byte. Shared (by pointer) with the stream
// provider, which runs after the route handler has returned.
struct Generation {
    Generation(Server::Handlers& handlers, bool is_chat)
        : h(handlers), chat(is_chat), endpoint(is_chat ? "chat_completions" : "completions") {}

    Server::Handlers& h;
    GenerationRequest g;
    bool chat;
    std::string endpoint, id;
    int64_t created = 0;
    Clock::time_point t0;
    std::shared_ptr<Job> job = std::make_shared<Job>();
    std::vector<std::string> stops;

    struct Outcome {
        FinishReason reason = FinishReason::None;
        int used = 0;  // tokens up to and including the one that completed a stop string
    };

    const Tokenizer& tok() const;
    // One choice around `text` (and its tokens' log-probabilities); a chunk's if delta.
    json choice(const std::string& text, const std::vector<SampledToken>& tokens, size_t offset,
                FinishReason finish, bool delta) const;
    json envelope(json choices, bool chunk) const;
    // Waits for tokens, cuts at stop strings and notices a client that left; emit(text,
    // tokens) gets each piece and returns false if it could not be sent.
    template <typename Emit>
    Outcome follow(const ClientConnection& conn, Emit&& emit);
    RequestError failure(FinishReason r) const;
};

void Server::Handlers::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto gen = std::make_shared<Generation>(*this, chat);
    Generation& G = *gen;
    G.t0 = Clock::now();
    const json body = parse_body(req.body);
    G.g = chat ? parse_chat_request(body) : parse_completion_request(body);
    const GenerationRequest& g = G.g;
    const Tokenizer& tok = s.model_->tokenizer();
    const char* prompt_field = chat ? "messages" : "prompt";
    Job& job = *G.job;
    G.stops = g.stop;
    if (chat) {
        const ChatPrompt p = render_chat(s.chat_format_, g.messages);
        job.prompt = tok.encode(p.text, tok.vocab().add_bos, p.parse_special);
        for (const std::string& end : p.end_of_turn) {
            const auto& pieces = tok.vocab().tokens;
            const auto it = std::find(pieces.begin(), pieces.end(), end);
            if (it != pieces.end())
                job.stop_ids.push_back(static_cast<TokenId>(it - pieces.begin()));
            else
                G.stops.push_back(end);
        }
    } else if (!g.prompt_ids.empty()) {
        for (int32_t id : g.prompt_ids)
            if (id >= tok.size())
                throw bad_field("prompt", "holds token id " + std::to_string(id) +
                                              ", outside the vocabulary of " +
                                              std::to_string(tok.size()));
        job.prompt = g.prompt_ids;
    } else {
        job.prompt = tok.encode(g.prompt, tok.vocab().add_bos);
    }
    if (job.prompt.empty()) throw bad_field(prompt_field, "is empty");
    if (static_cast<int>(job.prompt.size()) > s.engine_->n_ctx())
        throw RequestError(400,
                           "the prompt has " + std::to_string(job.prompt.size()) +
                               " tokens, more than the context of " +
                               std::to_string(s.engine_->n_ctx()) +
                               "; shorten it or start the server with a larger --ctx",
                           prompt_field, "context_length_exceeded");
    job.max_tokens = g.max_tokens;
    job.sampler = g.sampler;
    if (!g.seeded) job.sampler.seed = std::random_device{}();
    job.lora = adapters(g.lora);
    job.top_logprobs = g.logprobs ? g.top_logprobs : -1;
    job.ignore_eos = g.ignore_eos;
    job.deadline = G.t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(s.options_.timeout_s));
    submit({G.job});
    G.id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(s.next_id_++);
    G.created = static_cast<int64_t>(std::time(nullptr));

    if (!g.stream) {
        const ClientConnection conn(req.remote_addr, req.remote_port, req.local_port);
        std::string text;
        std::vector<SampledToken> tokens;
        const auto out =
            G.follow(conn, [&](const std::string& piece, std::vector<SampledToken>& fresh) {
                text += piece;
                tokens.insert(tokens.end(), fresh.begin(), fresh.end());
                return true;
            });
        if (out.reason == FinishReason::Cancelled) return;  // nobody is there to answer
        if (out.reason != FinishReason::Stop && out.reason != FinishReason::Length)
            throw G.failure(out.reason);
        json r = G.envelope(json::array({G.choice(text, tokens, 0, out.reason, false)}), false);
        r["usage"] = usage_body(static_cast<int>(job.prompt.size()), out.used, job.cached_tokens);
        res.set_content(dump(r), "application/json");
        count(G.endpoint, 200);
        record_generation(job, out.used, G.t0);
        s.metrics_.observe("edgelm_request_duration_seconds",
                           {{"endpoint", G.endpoint}, {"variant", kVariant}},
                           seconds_between(G.t0, Clock::now()));
        return;
    }

    // Server-sent events: each chunk is "data: JSON\n\n", then "data: [DONE]\n\n".
    auto in_flight = std::make_shared<InFlight>(s.in_flight_);
    auto conn =
        std::make_shared<ClientConnection>(req.remote_addr, req.remote_port, req.local_port);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [gen, in_flight, conn](
                                                              size_t, httplib::DataSink& sink) {
        Generation& st = *gen;
        Server& server = st.h.s;
        auto send = [&](const json& j) {
            const std::string line = "data: " + dump(j) + "\n\n";
            return sink.write(line.data(), line.size());
        };
        if (st.chat && !send(st.envelope(
                           json::array({st.choice("", {}, 0, FinishReason::None, true)}), true))) {
            server.engine_->cancel(*st.job);
            return false;
        }
        size_t offset = 0;
        const auto out = st.follow(*conn, [&](const std::string& piece,
                                              std::vector<SampledToken>& fresh) {
            const bool ok = send(st.envelope(
                json::array({st.choice(piece, fresh, offset, FinishReason::None, true)}), true));
            offset += piece.size();
            return ok;
        });
        if (out.reason == FinishReason::Cancelled) return false;
        if (out.reason == FinishReason::Stop || out.reason == FinishReason::Length) {
            json last =
                st.envelope(json::array({st.choice("", {}, offset, out.reason, true)}), true);
            const json usage = usage_body(static_cast<int>(st.job->prompt.size()), out.used,
                                          st.job->cached_tokens);
            last["usage"] = usage;
            send(last);
            if (st.g.include_usage) {
                json u = st.envelope(json::array(), true);
                u["usage"] = usage;
                send(u);
            }
            st.h.record_generation(*st.job, out.used, st.t0);
        } else {
            send(error_body(st.failure(out.reason)));
        }
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        st.h.count(st.endpoint, 200);
        server.metrics_.observe("edgelm_request_duration_seconds",
                                {{"endpoint", st.endpoint}, {"variant", kVariant}},
                                seconds_between(st.t0, Clock::now()));
        return true;
    });
}

const Tokenizer& Generation::tok() const {
    return h.s.model_->tokenizer();
}

json Generation::choice(const std::string& text, const std::vector<SampledToken>& tokens,
                        size_t offset, FinishReason finish, bool delta) const {
    json c = {{"index", 0}};
    c["finish_reason"] =
        finish == FinishReason::None ? json(nullptr) : json(finish_reason_name(finish));
    c["logprobs"] = !g.logprobs ? json(nullptr)
                    : chat      ? chat_logprobs(tok(), tokens)
                                : completion_logprobs(tok(), tokens, offset);
    if (!chat)
        c["text"] = text;
    else if (!delta)
        c["message"] = {{"role", "assistant"}, {"content", text}};
    else if (!text.empty())
        c["delta"] = {{"content", text}};
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
            {"model", h.s.model_id_},
            {"choices", std::move(choices)}};
}

template <typename Emit>
Generation::Outcome Generation::follow(const ClientConnection& conn, Emit&& emit) {
    Server& s = h.s;
    TextStream text(stops);
    Outcome out;
    std::vector<SampledToken> fresh;
    while (out.reason == FinishReason::None) {
        fresh.clear();
        const FinishReason r = job->wait(fresh, kPoll);
        std::string piece;
        size_t n = 0;
        for (; n < fresh.size() && !text.stopped(); ++n)
            piece += text.push(tok().token_to_piece(fresh[n].id));
        fresh.resize(n);
        out.used += static_cast<int>(n);
        if (text.stopped()) {
            s.engine_->cancel(*job);
            out.reason = FinishReason::Stop;
        } else if (r != FinishReason::None) {
            out.reason = r;
            piece += text.flush();
        }
        // Tokens held back whole (a possible stop string) are sent with the text they end in,
        // unless the client asked for their log-probabilities.
        if ((!piece.empty() || (g.logprobs && !fresh.empty())) && !emit(piece, fresh))
            out.reason = FinishReason::Cancelled;
        if (out.reason == FinishReason::None && !conn.alive()) out.reason = FinishReason::Cancelled;
    }
    if (out.reason == FinishReason::Cancelled) {
        s.engine_->cancel(*job);
        s.metrics_.add("edgelm_cancelled_total",
                       {{"reason", "disconnected"}, {"variant", kVariant}});
    } else if (out.reason == FinishReason::Timeout) {
        s.metrics_.add("edgelm_cancelled_total", {{"reason", "timeout"}, {"variant", kVariant}});
    }
    return out;
}

RequestError Generation::failure(FinishReason r) const {
    if (r == FinishReason::Timeout)
        return RequestError(504,
                            "the request took longer than --timeout (" +
                                std::to_string(h.s.options_.timeout_s) + " s)",
                            "", "timeout");
    return RequestError(500, "generation failed: " + job->error(), "", "server_error");
}

void Server::Handlers::pool(const httplib::Request& req, httplib::Response& res, bool classify) {
    const std::string endpoint = classify ? "classify" : "embeddings";
    const auto t0 = Clock::now();
    const json body = parse_body(req.body);
    const Tokenizer& tok = s.model_->tokenizer();
    const auto& head = s.model_->weights().classifier;
    std::vector<std::vector<TokenId>> inputs;
    bool base64 = false;
    if (classify) {
        if (!head)
            throw RequestError(400,
                               "the model has no classification head; train one with `edgelm "
                               "finetune --task classify`",
                               "model", "no_classifier");
        for (const std::string& text : parse_classify_request(body).texts)
            inputs.push_back(classifier_tokens(tok, text, head->max_tokens));
    } else {
        EmbeddingRequest e = parse_embedding_request(body);
        base64 = e.base64;
        for (const std::string& text : e.texts)
            inputs.push_back(tok.encode(text, tok.vocab().add_bos));
        for (const auto& ids : e.token_inputs) {
            for (int32_t id : ids)
                if (id >= tok.size())
                    throw bad_field("input", "holds token id " + std::to_string(id) +
                                                 ", outside the vocabulary");
            inputs.push_back(ids);
        }
    }
    std::vector<std::shared_ptr<Job>> jobs;
    int prompt_tokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].empty()) throw bad_field("input", "[" + std::to_string(i) + "] is empty");
        if (static_cast<int>(inputs[i].size()) > s.engine_->n_ctx())
            throw RequestError(
                400,
                "input[" + std::to_string(i) + "] has " + std::to_string(inputs[i].size()) +
                    " tokens, more than the context of " + std::to_string(s.engine_->n_ctx()),
                "input", "context_length_exceeded");
        auto job = std::make_shared<Job>();
        job->kind = Job::Kind::Pool;
        job->prompt = std::move(inputs[i]);
        job->deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(s.options_.timeout_s));
        prompt_tokens += static_cast<int>(job->prompt.size());
        jobs.push_back(std::move(job));
    }
    submit(jobs);
    const ClientConnection conn(req.remote_addr, req.remote_port, req.local_port);
    std::vector<SampledToken> none;
    for (auto& job : jobs) {
        FinishReason r;
        while ((r = job->wait(none, kPoll)) == FinishReason::None)
            if (!conn.alive()) {
                for (auto& j : jobs) s.engine_->cancel(*j);
                s.metrics_.add("edgelm_cancelled_total",
                               {{"reason", "disconnected"}, {"variant", kVariant}});
                return;
            }
        if (r != FinishReason::Stop) {
            for (auto& j : jobs) s.engine_->cancel(*j);
            throw r == FinishReason::Timeout
                ? RequestError(504, "the request took longer than --timeout", "", "timeout")
                : RequestError(500, "pooling failed: " + job->error(), "", "server_error");
        }
    }
    json data = json::array();
    for (size_t i = 0; i < jobs.size(); ++i) {
        std::vector<float>& v = jobs[i]->pooled;
        if (classify) {
            const ClassPrediction p = classify_pooled(*head, v);
            json probs = json::object();
            for (size_t l = 0; l < head->labels.size(); ++l) probs[head->labels[l]] = p.probs[l];
            data.push_back({{"index", i},
                            {"label", head->labels[static_cast<size_t>(p.label)]},
                            {"probs", probs},
                            {"tokens", jobs[i]->prompt.size()}});
            continue;
        }
        double norm = 0;  // L2-normalised, as OpenAI's embeddings are
        for (float x : v) norm += static_cast<double>(x) * x;
        const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
        for (float& x : v) x *= inv;
        data.push_back({{"object", "embedding"},
                        {"index", i},
                        {"embedding", base64 ? json(base64_floats(v)) : json(v)}});
    }
    json r = {{"object", classify ? "classification" : "list"},
              {"model", s.model_id_},
              {"data", data},
              {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
    res.set_content(dump(r), "application/json");
    count(endpoint, 200);
    s.metrics_.add("edgelm_prompt_tokens_total", {{"variant", kVariant}}, prompt_tokens);
    s.metrics_.observe("edgelm_request_duration_seconds",
                       {{"endpoint", endpoint}, {"variant", kVariant}},
                       seconds_between(t0, Clock::now()));
}

Server::Server(ServerOptions options)
    : options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
    auto h = std::make_shared<Handlers>(Handlers{*this});
    h->declare_metrics();
    httplib::Server& http = *http_;
    // Enough threads that every admitted request (and idle keep-alive connections) has
    // one, so that a request over the limit is answered 503 at once instead of waiting.
    const size_t threads = 2 * static_cast<size_t>(options_.slots_hint + options_.queue_hint) + 16;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(options_.max_body);
    http.set_pre_routing_handler([this, h](const httplib::Request& req, httplib::Response& res) {
        request_start = Clock::now();
        res.set_header("X-Edgelm-Source", "local");
        res.set_header("X-Edgelm-Variant", kVariant);
        if (options_.api_key.empty() || req.path == "/health")
            return httplib::Server::HandlerResponse::Unhandled;
        const std::string expected = "Bearer " + options_.api_key;
        const std::string got = req.get_header_value("Authorization");
        unsigned char diff = got.size() != expected.size();  // compared in constant time
        for (size_t i = 0; i < std::min(got.size(), expected.size()); ++i)
            diff |= static_cast<unsigned char>(got[i] ^ expected[i]);
        if (diff == 0) return httplib::Server::HandlerResponse::Unhandled;
        h->reject(res, "auth",
                  RequestError(401,
                               "missing or wrong API key: send \"Authorization: Bearer KEY\" with "
                               "the key in --api-key-file",
                               "", "invalid_api_key"),
                  "unauthorized");
        return httplib::Server::HandlerResponse::Handled;
    });
    http.set_error_handler([h](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;  // a handler's own error body
        if (res.status == 413) {
            // cpp-httplib reads at most 8 KiB of a form-encoded body (curl -d sends one).
            const bool form = req.get_header_value("Content-Type")
                                  .rfind("application/x-www-form-urlencoded", 0) == 0;
            h->reject(res, "body",
                      RequestError(413,
                                   form ? "a form-encoded body is limited to 8 KiB: send "
                                          "\"Content-Type: application/json\""
                                        : "the request body is larger than --max-body",
                                   "", "body_too_large"),
                      "too_large");
        } else if (res.status == 404)
            h->reject(res, "unknown",
                      RequestError(404, "no such endpoint: " + req.method + " " + req.path, "",
                                   "not_found"),
                      "not_found");
        else
            res.set_content(dump(error_body(RequestError(
                                res.status, "HTTP error " + std::to_string(res.status)))),
                            "application/json");
    });
    http.set_exception_handler(
        [h](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            res.status = 500;
            res.set_content(dump(error_body(RequestError(500, what, "", "server_error"))),
                            "application/json");
            h->count("unknown", 500);
        });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        const double ms =
            std::chrono::duration<double, std::milli>(Clock::now() - request_start).count();
        if (options_.log_json) {
            const json line = {{"time", static_cast<int64_t>(std::time(nullptr))},
                               {"method", req.method},
                               {"path", req.path},
                               {"status", res.status},
                               {"ms", std::round(ms * 10) / 10},
                               {"source", res.get_header_value("X-Edgelm-Source")},
                               {"variant", res.get_header_value("X-Edgelm-Variant")},
                               {"remote", req.remote_addr}};
            std::fprintf(stderr, "%s\n", dump(line).c_str());
        } else {
            std::fprintf(stderr, "%s %s %d %.1f ms\n", req.method.c_str(), req.path.c_str(),
                         res.status, ms);
        }
    });

    auto route = [this, h](const char* endpoint, auto fn) {
        return [this, h, endpoint, fn](const httplib::Request& req, httplib::Response& res) {
            InFlight in_flight(in_flight_);
            h->guarded(res, endpoint, [&] { fn(*h, req, res); });
        };
    };
    http.Post("/v1/completions", route("completions", [](Handlers& hs, const auto& q, auto& r) {
                  hs.generate(q, r, false);
              }));
    http.Post("/v1/chat/completions",
              route("chat_completions",
                    [](Handlers& hs, const auto& q, auto& r) { hs.generate(q, r, true); }));
    http.Post("/v1/embeddings", route("embeddings", [](Handlers& hs, const auto& q, auto& r) {
                  hs.pool(q, r, false);
              }));
    http.Post("/v1/classify",
              route("classify", [](Handlers& hs, const auto& q, auto& r) { hs.pool(q, r, true); }));
    http.Get("/v1/models", route("models", [](Handlers& hs, const auto&, auto& r) {
                 const json model = {{"id", hs.s.model_id_},
                                     {"object", "model"},
                                     {"created", 0},
                                     {"owned_by", "edgelm"}};
                 r.set_content(dump({{"object", "list"}, {"data", json::array({model})}}),
                               "application/json");
                 hs.count("models", 200);
             }));
    http.Get("/health", [this, h](const httplib::Request&, httplib::Response& res) {
        if (!ready_) {
            res.status = 503;
            res.set_header("Retry-After", "1");
            res.set_content(
                dump(error_body(RequestError(503, "the model is loading", "", "loading"))),
                "application/json");
            return;
        }
        res.set_content(draining_ ? R"({"status":"draining"})" : R"({"status":"ok"})",
                        "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        if (engine_) {
            const Labels v = {{"variant", kVariant}};
            metrics_.set("edgelm_slots_busy", v, engine_->busy_slots());
            metrics_.set("edgelm_slots", v, engine_->slots());
            metrics_.set("edgelm_queue_depth", v, engine_->queued());
        }
        metrics_.set("edgelm_resident_anonymous_memory_bytes", {}, resident_anonymous_bytes());
        res.set_content(metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
    });
}

Server::~Server() = default;

int Server::bind() {
    int port = options_.port;
    if (port == 0)
        port = http_->bind_to_any_port(options_.host);
    else if (!http_->bind_to_port(options_.host, port))
        port = -1;
    if (port < 0)
        throw IoError(
            "cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
            " (in use, or not an address of this machine); pick another --port or --host");
    return port;
}

void Server::run() {
    http_->listen_after_bind();
}

void Server::attach(std::shared_ptr<const Model> model, Engine* engine, std::string model_id) {
    model_ = std::move(model);
    engine_ = engine;
    model_id_ = std::move(model_id);
    chat_format_ =
        detect_chat_format(model_->file().get_string("tokenizer.chat_template").value_or(""));
    metrics_.set("edgelm_model_info",
                 {{"variant", kVariant},
                  {"model", model_id_},
                  {"fingerprint",
                   [&] {
                       char hex[17];
                       std::snprintf(hex, sizeof hex, "%016llx",
                                     static_cast<unsigned long long>(model_->fingerprint()));
                       return std::string(hex);
                   }()},
                  {"chat_template", chat_format_name(chat_format_)}},
                 1);
    ready_ = true;
}

void Server::drain(double grace_s) {
    draining_ = true;
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(grace_s));
    while (in_flight_ > 0 && Clock::now() < until) std::this_thread::sleep_for(milliseconds(10));
    stop();
}

void Server::stop() {
    http_->stop();
}

}  // namespace edgelm::serve
