#include "serve/server.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "serve/server_handlers.h"

namespace edgelm::serve {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

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

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return h;
}

}  // namespace

void Server::Handlers::declare_metrics() {
    Metrics& m = s.metrics_;
    using T = Metrics::Type;
    const auto buckets = latency_buckets();
    m.declare("edgelm_requests_total", T::Counter,
              "Requests answered, by endpoint, status code and variant.");
    m.declare("edgelm_rejected_total", T::Counter, "Requests refused before running, by reason.");
    m.declare("edgelm_cancelled_total", T::Counter,
              "Requests stopped early: the client left, or --timeout passed.");
    m.declare("edgelm_prompt_tokens_total", T::Counter,
              "Prompt tokens of finished local requests.");
    m.declare("edgelm_generated_tokens_total", T::Counter, "Tokens generated locally.");
    m.declare("edgelm_prefix_cache_hit_tokens_total", T::Counter,
              "Prompt tokens whose keys and values a slot already held.");
    m.declare("edgelm_prefix_cache_restores_total", T::Counter,
              "Requests that started from a saved prefix snapshot (--prefix-cache-mb).");
    m.declare("edgelm_prefix_cache_bytes", T::Gauge, "Bytes of saved prefix snapshots.");
    m.declare("edgelm_response_cache_hits_total", T::Counter,
              "Deterministic requests answered from the response cache.");
    m.declare("edgelm_response_cache_misses_total", T::Counter,
              "Deterministic requests not in the response cache.");
    m.declare("edgelm_fallback_total", T::Counter, "Requests sent to the upstream, by reason.");
    m.declare("edgelm_upstream_errors_total", T::Counter,
              "Upstream calls that failed after their retry, or were skipped while the circuit was "
              "open.");
    m.declare("edgelm_feedback_total", T::Counter,
              "Feedback received (POST /v1/feedback), by variant.");
    m.declare("edgelm_feedback_positive_total", T::Counter,
              "Feedback with a score above 0, by variant.");
    m.declare("edgelm_request_duration_seconds", T::Histogram, "Time from request to last byte.",
              buckets);
    m.declare("edgelm_time_to_first_token_seconds", T::Histogram,
              "Time from request to the first generated token.", buckets);
    m.declare("edgelm_time_per_output_token_seconds", T::Histogram,
              "Mean time between generated tokens of a request.", buckets);
    m.declare("edgelm_queue_wait_seconds", T::Histogram, "Time a request waited for a slot.",
              buckets);
    m.declare("edgelm_slots_busy", T::Gauge, "Slots running a request.");
    m.declare("edgelm_slots", T::Gauge, "Slots (--slots).");
    m.declare("edgelm_queue_depth", T::Gauge, "Requests waiting for a slot.");
    m.declare("edgelm_upstream_circuit_open", T::Gauge,
              "1 while the upstream is not called after repeated failures.");
    m.declare("edgelm_resident_anonymous_memory_bytes", T::Gauge,
              "Resident anonymous memory of the server (RssAnon; the mapped model file excluded).");
    m.declare("edgelm_model_info", T::Gauge, "The model each variant serves (value 1).");
}

void Server::Handlers::record_generation(const Job& job, int completion_tokens,
                                         Clock::time_point t0, const std::string& variant) {
    const Labels v = {{"variant", variant}};
    Metrics& m = s.metrics_;
    m.add("edgelm_prompt_tokens_total", v, static_cast<double>(job.prompt.size()));
    m.add("edgelm_generated_tokens_total", v, completion_tokens);
    m.add("edgelm_prefix_cache_hit_tokens_total", v, job.cached_tokens);
    if (job.restored_prefix) m.add("edgelm_prefix_cache_restores_total", v);
    if (job.started_at != Clock::time_point{})
        m.observe("edgelm_queue_wait_seconds", v, seconds_between(job.queued_at, job.started_at));
    if (completion_tokens > 0) {
        m.observe("edgelm_time_to_first_token_seconds", v, seconds_between(t0, job.first_token_at));
        if (completion_tokens > 1)
            m.observe("edgelm_time_per_output_token_seconds", v,
                      seconds_between(job.first_token_at, Clock::now()) / (completion_tokens - 1));
    }
}

const ServedModel& Server::Handlers::choose(const httplib::Request& req, const std::string& user) {
    if (s.models_.size() == 1) return s.models_[0];
    const std::string who = !user.empty() ? user : req.get_header_value("X-Edgelm-User");
    double u;
    if (!who.empty()) {
        u = static_cast<double>(fnv1a(who) % 1000000) / 1e6;  // the same user, the same variant
    } else {
        thread_local std::mt19937_64 rng{std::random_device{}()};
        u = std::uniform_real_distribution<double>(0, 1)(rng);
    }
    return s.models_[u < s.options_.split ? 1 : 0];
}

std::vector<LoraBinding> Server::Handlers::adapters(const std::vector<LoraChoice>& choices) const {
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

bool Server::Handlers::submit(Engine& engine, const std::vector<std::shared_ptr<Job>>& jobs) {
    for (size_t i = 0; i < jobs.size(); ++i)
        if (!engine.submit(jobs[i])) {
            for (size_t j = 0; j < i; ++j) engine.cancel(*jobs[j]);
            return false;
        }
    return true;
}

RequestError Server::Handlers::overloaded(const Engine& engine) {
    return RequestError(503,
                        "the server is busy: all " + std::to_string(engine.slots()) +
                            " slots and the queue are taken; retry later",
                        "", "overloaded");
}

RequestError Server::Handlers::deadline_error() const {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g", s.options_.timeout_s);
    return RequestError(504, std::string("the request took longer than --timeout (") + secs + " s)",
                        "", "timeout");
}

void Server::Handlers::feedback(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    const auto id = body.find("id");
    if (id == body.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
        throw bad_field("id", "must be the id of a response this server gave");
    const auto score = body.find("score");
    if (score == body.end() || !score->is_number() || !std::isfinite(score->get<double>()) ||
        std::abs(score->get<double>()) > 1)
        throw bad_field("score", "must be a number between -1 and 1");
    const std::string variant = s.variant_of(id->get<std::string>());
    if (variant.empty())
        throw RequestError(404, "no recent response has id \"" + id->get<std::string>() + "\"",
                           "id", "unknown_id");
    replace_header(res, "X-Edgelm-Variant", variant);
    s.metrics_.add("edgelm_feedback_total", {{"variant", variant}});
    if (score->get<double>() > 0)
        s.metrics_.add("edgelm_feedback_positive_total", {{"variant", variant}});
    res.set_content(R"({"status":"recorded"})", "application/json");
    count("feedback", 200, variant);
}

void Server::remember_response(uint64_t n, const std::string& variant) {
    std::lock_guard lock(responses_mutex_);
    answered_by_[n % kFeedbackIds] = variant.empty() ? 0 : variant == "b" ? 2 : 1;
}

std::string Server::variant_of(const std::string& id) const {
    std::string_view digits = id;
    for (std::string_view prefix : {"chatcmpl-", "cmpl-"})
        if (digits.substr(0, prefix.size()) == prefix) digits.remove_prefix(prefix.size());
    if (digits.empty() || digits.size() > 19 || digits.size() == id.size() ||
        digits.find_first_not_of("0123456789") != std::string_view::npos)
        return {};
    const uint64_t n = std::stoull(std::string(digits));
    const uint64_t next = next_id_;
    if (n == 0 || n >= next || next - n > kFeedbackIds) return {};  // never given, or forgotten
    std::lock_guard lock(responses_mutex_);
    const uint8_t v = answered_by_[n % kFeedbackIds];
    return v == 0 ? std::string() : v == 2 ? "b" : "a";
}

Server::Server(ServerOptions options)
    : options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
    if (!options_.upstream.base_url.empty())
        upstream_ = std::make_unique<Upstream>(options_.upstream);
    if (options_.cache_bytes > 0)
        cache_ = std::make_unique<ResponseCache>(options_.cache_bytes, options_.cache_ttl_s);
    auto h = std::make_shared<Handlers>(Handlers{*this});
    h->declare_metrics();
    httplib::Server& http = *http_;
    // Enough threads that every admitted request (and idle keep-alive connections) has
    // one, so that a request over the limit is answered 503 at once instead of waiting.
    const size_t threads = 2 * static_cast<size_t>(options_.slots_hint + options_.queue_hint) + 16;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(options_.max_body);
    // Every connection holds a thread: idle keep-alive connections and slow senders let go soon.
    http.set_keep_alive_timeout(2);
    http.set_read_timeout(5, 0);
    http.set_pre_routing_handler([this, h](const httplib::Request& req, httplib::Response& res) {
        request_start = Clock::now();
        replace_header(res, "X-Edgelm-Source", "local");
        replace_header(res, "X-Edgelm-Variant", "a");
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
        } else if (res.status == 404) {
            h->reject(res, "unknown",
                      RequestError(404, "no such endpoint: " + req.method + " " + req.path, "",
                                   "not_found"),
                      "not_found");
        } else {
            res.set_content(dump(error_body(RequestError(
                                res.status, "HTTP error " + std::to_string(res.status)))),
                            "application/json");
        }
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
            h->count("unknown", 500, res.get_header_value("X-Edgelm-Variant"));
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
            std::fprintf(stderr, "%s %s %d %.1f ms %s\n", req.method.c_str(), req.path.c_str(),
                         res.status, ms, res.get_header_value("X-Edgelm-Source").c_str());
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
    http.Post("/v1/feedback",
              route("feedback", [](Handlers& hs, const auto& q, auto& r) { hs.feedback(q, r); }));
    http.Get("/v1/models", route("models", [](Handlers& hs, const auto&, auto& r) {
                 json data = json::array();
                 for (const ServedModel& m : hs.s.models_)
                     data.push_back({{"id", m.model_id},
                                     {"object", "model"},
                                     {"created", 0},
                                     {"owned_by", "edgelm"},
                                     {"variant", m.variant}});
                 r.set_content(dump({{"object", "list"}, {"data", data}}), "application/json");
                 hs.count("models", 200, "a");
             }));
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
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
        for (const ServedModel& m : ready_ ? models_ : std::vector<ServedModel>{}) {
            const Labels v = {{"variant", m.variant}};
            metrics_.set("edgelm_slots_busy", v, m.engine->busy_slots());
            metrics_.set("edgelm_slots", v, m.engine->slots());
            metrics_.set("edgelm_queue_depth", v, m.engine->queued());
            metrics_.set("edgelm_prefix_cache_bytes", v,
                         static_cast<double>(m.engine->saved_prefix_bytes()));
        }
        if (upstream_)
            metrics_.set("edgelm_upstream_circuit_open", {}, upstream_->circuit_open() ? 1 : 0);
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

void Server::attach(std::vector<ServedModel> models) {
    models_ = std::move(models);
    for (ServedModel& m : models_) {
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx",
                      static_cast<unsigned long long>(m.model->fingerprint()));
        m.fingerprint = hex;
        m.chat_format =
            detect_chat_format(m.model->file().get_string("tokenizer.chat_template").value_or(""));
        const Vocabulary& v = m.model->tokenizer().vocab();
        for (size_t i = 0; i < v.tokens.size(); ++i)
            if (i < v.types.size() && v.types[i] == TokenType::kControl && v.tokens[i].size() >= 2)
                m.control_tokens.push_back(v.tokens[i]);
        metrics_.set("edgelm_model_info",
                     {{"variant", m.variant},
                      {"model", m.model_id},
                      {"fingerprint", m.fingerprint},
                      {"chat_template", chat_format_name(m.chat_format)}},
                     1);
    }
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
