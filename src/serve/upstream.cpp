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
                                const std::function<bool(const char*, size_t)>& on_data) {
    httplib::Client client(origin_);
    const auto secs = static_cast<time_t>(options_.timeout_s);
    const auto usecs = static_cast<time_t>((options_.timeout_s - static_cast<double>(secs)) * 1e6);
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
    UpstreamReply reply;
    int status = 0;
    req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        return true;
    };
    if (on_data)  // only a 2xx body is the answer; an error body is kept to report
        req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
            if (status < 200 || status >= 300) {
                reply.body.append(d, n);
                return true;
            }
            reply.streamed = true;
            if (on_data(d, n)) return true;
            reply.client_left = true;
            return false;
        };
    const httplib::Result r = client.send(req);
    if (!r) {
        reply.error = "upstream " + origin_ + ": " + httplib::to_string(r.error());
        return reply;
    }
    reply.status = r->status;
    reply.content_type = r->get_header_value("Content-Type");
    if (!on_data) reply.body = r->body;
    if (r->status == 429 || r->status >= 500) {
        reply.error = "upstream " + origin_ + " answered " + std::to_string(r->status);
        return reply;
    }
    reply.outcome = UpstreamReply::Outcome::Ok;
    return reply;
}

UpstreamReply Upstream::post(const std::string& path, std::string body,
                             const std::function<bool(const char*, size_t)>& on_data) {
    if (circuit_open()) {
        UpstreamReply r;
        r.outcome = UpstreamReply::Outcome::CircuitOpen;
        r.error = "upstream " + origin_ + " failed repeatedly; not called for now";
        return r;
    }
    if (!options_.model.empty()) {
        nlohmann::json j = nlohmann::json::parse(body);
        j["model"] = options_.model;
        body = j.dump();
    }
    UpstreamReply reply = attempt(path, body, on_data);
    if (reply.outcome != UpstreamReply::Outcome::Ok && !reply.streamed) {
        std::this_thread::sleep_for(std::chrono::duration<double>(options_.backoff_s));
        reply = attempt(path, body, on_data);
    }
    if (!reply.client_left) record(reply.outcome == UpstreamReply::Outcome::Ok);
    return reply;
}

}  // namespace edgelm::serve
