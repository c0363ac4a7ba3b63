// The route handlers behind Server (internal to src/serve): shared checks, metrics and
// helpers, and the endpoints, one file each (generation.cpp, pooling.cpp, server.cpp).
#pragma once

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "serve/api_request.h"
#include "serve/openai_format.h"
#include "serve/server.h"

namespace edgelm::serve {

// How often a waiting request checks that its client is still there.
constexpr std::chrono::milliseconds kPoll{20};

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// Sets a header, replacing any earlier value (cpp-httplib's set_header adds another).
inline void replace_header(httplib::Response& res, const std::string& key,
                           const std::string& value) {
    res.headers.erase(key);
    res.set_header(key, value);
}

// Keeps the server's in-flight count while a request (or its stream) is being answered.
struct InFlight {
    std::atomic<int>& count;
    explicit InFlight(std::atomic<int>& c) : count(c) { ++count; }
    ~InFlight() { --count; }
};

struct Server::Handlers {
    Server& s;

    void declare_metrics();
    void count(const std::string& endpoint, int code, const std::string& variant) {
        s.metrics_.add(
            "edgelm_requests_total",
            {{"endpoint", endpoint}, {"code", std::to_string(code)}, {"variant", variant}});
    }
    void reject(httplib::Response& res, const std::string& endpoint, const RequestError& e,
                const std::string& reason) {
        const std::string variant = res.get_header_value("X-Edgelm-Variant");
        res.status = e.status();
        res.set_content(dump(error_body(e)), "application/json");
        if (e.status() == 503) res.set_header("Retry-After", "1");
        count(endpoint, e.status(), variant);
        s.metrics_.add("edgelm_rejected_total", {{"reason", reason}, {"variant", variant}});
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
            reject(res, endpoint, e,
                   e.status() == 503   ? e.code()
                   : e.status() == 413 ? "too_large"
                                       : "bad_request");
        } catch (const ArgumentError& e) {  // the runtime refused a value the parser let by
            reject(res, endpoint, RequestError(400, e.what(), "", "invalid_value"), "bad_request");
        }
    }

    // The variant that answers: sticky by `user` (or the X-Edgelm-User header), else at random.
    const ServedModel& choose(const httplib::Request& req, const std::string& user);
    std::vector<LoraBinding> adapters(const std::vector<LoraChoice>& choices) const;
    // Submits jobs to an engine, all or none; false if it is full.
    static bool submit(Engine& engine, const std::vector<std::shared_ptr<Job>>& jobs);
    static RequestError overloaded(const Engine& engine);
    RequestError deadline_error() const;

    void generate(const httplib::Request& req, httplib::Response& res, bool chat);
    void pool(const httplib::Request& req, httplib::Response& res, bool classify);
    void feedback(const httplib::Request& req, httplib::Response& res);
    void record_generation(const Job& job, int completion_tokens, Clock::time_point t0,
                           const std::string& variant);
    void record_duration(const std::string& endpoint, const std::string& variant,
                         Clock::time_point t0) {
        s.metrics_.observe("edgelm_request_duration_seconds",
                           {{"endpoint", endpoint}, {"variant", variant}},
                           seconds_between(t0, Clock::now()));
    }
};

}  // namespace edgelm::serve
