#include "serve/upstream.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"

namespace edgelm::serve {

Upstream::Upstream(UpstreamOptions options) : options_(std::move(options)) {
    const std::string& url = options_.base_url;
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos ||
        (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0))
        throw ArgumentError("--fallback-url must start with http:// or https:// (got \"" + url +
                            "\")");
    const size_t path = url.find('/', scheme + 3);
    origin_ = url.substr(0, path);
    prefix_ = path == std::string::npos ? "" : url.substr(path);
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    if (origin_.size() <= scheme + 3)
        throw ArgumentError("--fallback-url has no host: \"" + url + "\"");
}

bool Upstream::circuit_open() const {
    std::lock_guard lock(mutex_);
    return std::chrono::steady_clock::now() < open_until_;
}

void Upstream::record(bool ok) {
    std::lock_guard lock(mutex_);
    if (ok) {
        consecutive_failures_ = 0;
        return;
    }
    ++failures_total_;
    if (++consecutive_failures_ >= options_.breaker_failures) {
        open_until_ = std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(options_.breaker_open_s));
        consecutive_failures_ = 0;
    }
}

UpstreamReply Upstream::attempt(const std::string& path, const std::string& body,
                                Clock::time_point deadline,
                                const std::function<bool(const char*, size_t)>& on_data) {
    UpstreamReply reply;
    const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
    if (left <= 0) {
        reply.error = "upstream " + origin_ + ": no time left before the request's deadline";
        return reply;
    }
    const double limit = std::min(options_.timeout_s, left);
    httplib::Client client(origin_);
    const auto secs = static_cast<time_t>(limit);
    const auto usecs = static_cast<time_t>((limit - static_cast<double>(secs)) * 1e6);
    client.set_connection_timeout(secs, usecs);
    client.set_read_timeout(secs, usecs);
    client.set_write_timeout(secs, usecs);
    httplib::Request req;
    req.method = "POST";
    req.path = prefix_ + path;
    req.headers = {{"Content-Type", "application/json"}};
    if (!options_.api_key.empty())
        req.headers.emplace("Authorization", "Bearer " + options_.api_key);
    req.body = body;
    int status = 0;
    bool too_long = false;
    req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        return true;
    };
    // Bodies are bounded (an answer to 16 MiB, an error to 64 KiB), and an upstream that
    // trickles bytes is cut at the request's deadline: read timeouts apply per read.
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
        if (Clock::now() > deadline) {
            too_long = true;
            return false;
        }
        const bool ok = status >= 200 && status < 300;
        if (ok && on_data) {
            reply.streamed = true;
            if (on_data(d, n)) return true;
            reply.client_left = true;
            return false;
        }
        if (reply.body.size() + n > (ok ? kMaxAnswerBytes : kMaxErrorBytes)) return false;
        reply.body.append(d, n);
        return true;
    };
    const httplib::Result r = client.send(req);
    if (!r) {
        reply.error =
            "upstream " + origin_ + ": " +
            (too_long ? std::string("past the request's deadline") : httplib::to_string(r.error()));
        return reply;
    }
    reply.status = r->status;
    reply.content_type = r->get_header_value("Content-Type");
    if (r->status == 429 || r->status >= 500) {
        reply.error = "upstream " + origin_ + " answered " + std::to_string(r->status);
        return reply;
    }
    reply.outcome = UpstreamReply::Outcome::Ok;
    return reply;
}

UpstreamReply Upstream::post(const std::string& path, std::string body, Clock::time_point deadline,
                             const std::function<bool(const char*, size_t)>& on_data) {
    UpstreamReply refused;
    if (circuit_open()) {
        refused.outcome = UpstreamReply::Outcome::CircuitOpen;
        refused.error = "upstream " + origin_ + " failed repeatedly; not called for now";
        return refused;
    }
    // Calls in flight are bounded: each holds an HTTP thread for up to the timeout.
    if (in_flight_.fetch_add(1) >= options_.max_in_flight) {
        --in_flight_;
        refused.outcome = UpstreamReply::Outcome::Busy;
        refused.error = "upstream " + origin_ + ": " + std::to_string(options_.max_in_flight) +
                        " calls already in flight";
        return refused;
    }
    struct Release {
        std::atomic<int>& n;
        ~Release() { --n; }
    } release{in_flight_};
    if (!options_.model.empty()) {
        nlohmann::json j = nlohmann::json::parse(body);
        j["model"] = options_.model;
        body = j.dump();
    }
    UpstreamReply reply = attempt(path, body, deadline, on_data);
    const auto backoff = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.backoff_s));
    if (reply.outcome != UpstreamReply::Outcome::Ok && !reply.streamed &&
        Clock::now() + backoff < deadline) {
        std::this_thread::sleep_for(backoff);
        reply = attempt(path, body, deadline, on_data);
    }
    if (!reply.client_left) record(reply.outcome == UpstreamReply::Outcome::Ok);
    return reply;
}

}  // namespace edgelm::serve
