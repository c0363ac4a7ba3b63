// The cloud fallback's client: any OpenAI-compatible API at --fallback-url (its base,
// e.g. http://host:port/v1). A call that fails before any byte of the answer arrived
// (connection refused or reset, timeout, 429 or 5xx) is retried once after a short
// backoff; after `breaker_failures` failed calls in a row the circuit opens and no call
// is made for `breaker_open_s` seconds, so a dead upstream costs nothing per request.
// Never used unless the operator gave --fallback-url: data stays on the device otherwise.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "serve/job.h"  // Clock

namespace edgelm::serve {

struct UpstreamOptions {
    std::string base_url;  // http(s)://host[:port][/prefix]
    std::string api_key;   // sent as "Authorization: Bearer KEY" when set
    std::string model;     // replaces the request's "model" when set
    double timeout_s = 30;
    double backoff_s = 0.2;
    int breaker_failures = 3;
    double breaker_open_s = 30;
    int max_in_flight = 8;  // calls at once; more are refused (Busy) at once
};

struct UpstreamReply {
    enum class Outcome { Ok, Failed, CircuitOpen, Busy };
    Outcome outcome = Outcome::Failed;
    int status = 0;    // the upstream's HTTP status (Ok: 2xx or a 4xx to pass on)
    std::string body;  // the whole body, unless it was streamed to on_data
    std::string content_type;
    std::string error;         // why it failed
    bool streamed = false;     // bytes went to on_data (then no retry was possible)
    bool client_left = false;  // on_data refused more: not the upstream's failure
};

class Upstream {
  public:
    explicit Upstream(UpstreamOptions options);
    // POSTs `body` (a JSON request; "model" replaced if configured) to base + path. With
    // on_data, a 2xx answer's bytes go there as they arrive (on_data returns false to stop).
    // The call (retry included) ends by `deadline`, the request's own.
    UpstreamReply post(const std::string& path, std::string body, Clock::time_point deadline,
                       const std::function<bool(const char*, size_t)>& on_data = {});
    bool circuit_open() const;
    uint64_t failures() const { return failures_total_; }

  private:
    UpstreamReply attempt(const std::string& path, const std::string& body,
                          Clock::time_point deadline,
                          const std::function<bool(const char*, size_t)>& on_data);
    static constexpr size_t kMaxAnswerBytes = 16 << 20, kMaxErrorBytes = 64 << 10;
    void record(bool ok);

    UpstreamOptions options_;
    std::string origin_, prefix_;  // "http://host:port", "/v1"
    mutable std::mutex mutex_;
    int consecutive_failures_ = 0;
    std::chrono::steady_clock::time_point open_until_{};
    std::atomic<uint64_t> failures_total_{0};
    std::atomic<int> in_flight_{0};
};

}  // namespace edgelm::serve
