// Where edgelm serve's answers come from: the cloud fallback (tested against a second
// edgelm serve on loopback as the upstream, and upstreams that hang, fail and refuse),
// the response cache, and A/B variants with sticky assignment and feedback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "serve_process.h"
#include "test_models.h"

namespace edgelm {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using testing::metric_value;
using testing::post_streaming;
using testing::ServeProcess;

// A port that accepts connections (the kernel's backlog) and never answers.
struct SilentListener {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = 0;
    SilentListener() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(listen(fd, 16), 0);
        socklen_t len = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~SilentListener() { close(fd); }
};

// A port nothing listens on (bound, then closed).
int refused_port() {
    SilentListener l;
    return l.port;
}

struct ServeRoutingTest : ::testing::Test {
    static void SetUpTestSuite() {
        a_ = new testing::TestModel(
            testing::make_test_model(testing::tiny_config(64, 2, 4, 2, 128, 300, 256, false),
                                     DType::Q8_0, "route-a.gguf", 3, 0.3f));
        b_ = new testing::TestModel(
            testing::make_test_model(testing::tiny_config(64, 2, 4, 2, 128, 300, 256, false),
                                     DType::Q8_0, "route-b.gguf", 9, 0.3f));
    }
    static void TearDownTestSuite() {
        std::filesystem::remove(a_->path);
        std::filesystem::remove(b_->path);
        delete a_;
        delete b_;
    }
    static testing::TestModel *a_, *b_;

    static httplib::Result post(const ServeProcess& p, const std::string& path, const json& body,
                                const httplib::Headers& headers = {}) {
        httplib::Client c("127.0.0.1", p.port());
        c.set_read_timeout(30, 0);
        return c.Post(path.c_str(), headers, body.dump(), "application/json");
    }
    static std::string scrape(const ServeProcess& p) {
        httplib::Client c("127.0.0.1", p.port());
        return c.Get("/metrics")->body;
    }
};
testing::TestModel* ServeRoutingTest::a_ = nullptr;
testing::TestModel* ServeRoutingTest::b_ = nullptr;

const std::string kLongPrompt =
    "the model reads every line of text and small devices run it fast today";

TEST_F(ServeRoutingTest, PromptsTooLongForTheDeviceGoUpstreamWholeOrStreamed) {
    ServeProcess upstream({b_->path});
    ServeProcess local({a_->path, "--ctx", "16", "--fallback-url", upstream.base_url(),
                        "--fallback-when", "length"});
    const json req = {{"prompt", kLongPrompt}, {"max_tokens", 8}, {"temperature", 0}};
    const auto direct = post(upstream, "/v1/completions", req);
    const auto routed = post(local, "/v1/completions", req);
    ASSERT_TRUE(direct && routed);
    EXPECT_EQ(routed->status, 200);
    EXPECT_EQ(routed->get_header_value("X-Edgelm-Source"), "fallback");
    EXPECT_EQ(json::parse(routed->body)["choices"][0]["text"],
              json::parse(direct->body)["choices"][0]["text"]);

    // Streamed: relayed as the upstream sends it, one source only.
    json streamed = req;
    streamed["stream"] = true;
    httplib::Client c("127.0.0.1", local.port());
    std::string sse;
    auto r = post_streaming(c, streamed, [&](const char* d, size_t n) {
        sse.append(d, n);
        return true;
    });
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("X-Edgelm-Source"), "fallback");
    EXPECT_EQ(testing::stream_text(sse), json::parse(direct->body)["choices"][0]["text"]);
    EXPECT_NE(sse.find("data: [DONE]"), std::string::npos);

    // "fallback": false keeps the request on the device: a 400 that says why.
    json kept = req;
    kept["fallback"] = false;
    const auto refused = post(local, "/v1/completions", kept);
    EXPECT_EQ(refused->status, 400);
    EXPECT_EQ(json::parse(refused->body)["error"]["code"], "context_length_exceeded");
    EXPECT_EQ(metric_value(scrape(local), "edgelm_fallback_total{reason=\"length\",variant=\"a\"}"),
              2);
}

TEST_F(ServeRoutingTest, OverloadAndLowConfidenceGoUpstream) {
    ServeProcess upstream({b_->path});
    ServeProcess local({a_->path, "--slots", "1", "--queue", "0", "--ctx", "60000",
                        "--fallback-url", upstream.base_url(), "--fallback-when",
                        "overload,confidence:1"});
    // confidence:1 sends every answer upstream (no token is certain).
    const json req = {{"prompt", "the model"}, {"max_tokens", 6}, {"temperature", 0}};
    const auto direct = post(upstream, "/v1/completions", req);
    const auto routed = post(local, "/v1/completions", req);
    EXPECT_EQ(routed->get_header_value("X-Edgelm-Source"), "fallback");
    EXPECT_EQ(json::parse(routed->body)["choices"][0]["text"],
              json::parse(direct->body)["choices"][0]["text"]);
    // The only slot busy: the next request is answered upstream instead of 503.
    httplib::Client streamer("127.0.0.1", local.port());
    std::atomic<bool> stop{false};
    std::thread t([&] {
        post_streaming(streamer,
                       {{"prompt", "a"},
                        {"max_tokens", 100000},
                        {"stream", true},
                        {"ignore_eos", true},
                        {"fallback", false}},
                       [&](const char*, size_t) { return !stop.load(); });
    });
    std::this_thread::sleep_for(300ms);
    const auto busy = post(local, "/v1/completions", req);
    stop = true;
    t.join();
    EXPECT_EQ(busy->status, 200);
    EXPECT_EQ(busy->get_header_value("X-Edgelm-Source"), "fallback");
    const std::string m = scrape(local);
    EXPECT_EQ(metric_value(m, "edgelm_fallback_total{reason=\"overload\",variant=\"a\"}"), 1) << m;
    EXPECT_GE(metric_value(m, "edgelm_fallback_total{reason=\"confidence\",variant=\"a\"}"), 1)
        << m;
}

TEST_F(ServeRoutingTest, AFailingUpstreamIsRetriedOnceThenTheCircuitOpens) {
    SilentListener hanging;
    ServeProcess local({a_->path, "--ctx", "16", "--fallback-url",
                        "http://127.0.0.1:" + std::to_string(hanging.port) + "/v1",
                        "--fallback-when", "length,confidence:1", "--fallback-timeout", "0.5"});
    const json too_long = {{"prompt", kLongPrompt}, {"max_tokens", 4}};
    auto t0 = std::chrono::steady_clock::now();
    const auto r = post(local, "/v1/completions", too_long);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r->status, 400);  // no local answer to give instead: the length error
    EXPECT_GE(s, 1.0);          // two attempts of 0.5 s
    EXPECT_LT(s, 5.0);
    // A low-confidence answer whose upstream hangs is answered locally after all.
    const auto local_answer =
        post(local, "/v1/completions", {{"prompt", "the"}, {"max_tokens", 3}, {"temperature", 0}});
    EXPECT_EQ(local_answer->status, 200);
    EXPECT_EQ(local_answer->get_header_value("X-Edgelm-Source"), "local");
    // Third failure: the circuit opens, and calls stop at once.
    post(local, "/v1/completions", too_long);
    t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(post(local, "/v1/completions", too_long)->status, 400);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.4);
    const std::string m = scrape(local);
    EXPECT_EQ(metric_value(m, "edgelm_upstream_circuit_open"), 1) << m;
    EXPECT_EQ(metric_value(m, "edgelm_upstream_errors_total{kind=\"failed\"}"), 3) << m;
    EXPECT_EQ(metric_value(m, "edgelm_upstream_errors_total{kind=\"circuit_open\"}"), 1) << m;
}

TEST_F(ServeRoutingTest, UpstreamErrorsAndRefusedConnectionsAreCounted) {
    httplib::Server broken;
    int calls = 0;
    broken.Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
        ++calls;
        res.status = 500;
        res.set_content(R"({"error":{"message":"down"}})", "application/json");
    });
    const int port = broken.bind_to_any_port("127.0.0.1");
    std::thread server([&] { broken.listen_after_bind(); });
    {
        ServeProcess local({a_->path, "--ctx", "16", "--fallback-url",
                            "http://127.0.0.1:" + std::to_string(port) + "/v1"});
        const auto r = post(local, "/v1/completions", {{"prompt", kLongPrompt}});
        EXPECT_EQ(r->status, 400);
        EXPECT_EQ(calls, 2);  // one retry
        EXPECT_EQ(metric_value(scrape(local), "edgelm_upstream_errors_total{kind=\"failed\"}"), 1);
    }
    broken.stop();
    server.join();
    ServeProcess refused({a_->path, "--ctx", "16", "--fallback-url",
                          "http://127.0.0.1:" + std::to_string(refused_port())});
    json streamed = {{"prompt", kLongPrompt}, {"stream", true}};
    httplib::Client c("127.0.0.1", refused.port());
    std::string sse;
    post_streaming(c, streamed, [&](const char* d, size_t n) {
        sse.append(d, n);
        return true;
    });
    EXPECT_NE(sse.find("upstream_error"), std::string::npos) << sse;
    EXPECT_NE(sse.find("data: [DONE]"), std::string::npos) << sse;
}

TEST_F(ServeRoutingTest, DeterministicRequestsAreAnsweredFromTheCache) {
    ServeProcess p({a_->path, "--cache-mb", "1"});
    const json req = {{"prompt", "the model"}, {"max_tokens", 8}, {"temperature", 0}};
    const auto first = post(p, "/v1/completions", req);
    const auto second = post(p, "/v1/completions", req);
    EXPECT_EQ(first->get_header_value("X-Edgelm-Source"), "local");
    EXPECT_EQ(second->get_header_value("X-Edgelm-Source"), "cache");
    EXPECT_EQ(json::parse(first->body)["choices"][0]["text"],
              json::parse(second->body)["choices"][0]["text"]);
    json streamed = req;
    streamed["stream"] = true;
    httplib::Client c("127.0.0.1", p.port());
    std::string sse;
    auto r = post_streaming(c, streamed, [&](const char* d, size_t n) {
        sse.append(d, n);
        return true;
    });
    EXPECT_EQ(r->get_header_value("X-Edgelm-Source"), "cache");
    EXPECT_EQ(testing::stream_text(sse), json::parse(first->body)["choices"][0]["text"]);
    // A sampled request without a seed is not deterministic: never cached.
    const json sampled = {{"prompt", "the model"}, {"max_tokens", 8}, {"temperature", 0.9}};
    post(p, "/v1/completions", sampled);
    EXPECT_EQ(post(p, "/v1/completions", sampled)->get_header_value("X-Edgelm-Source"), "local");
    // With a seed it is.
    json seeded = sampled;
    seeded["seed"] = 7;
    post(p, "/v1/completions", seeded);
    EXPECT_EQ(post(p, "/v1/completions", seeded)->get_header_value("X-Edgelm-Source"), "cache");
    const std::string m = scrape(p);
    EXPECT_EQ(metric_value(m, "edgelm_response_cache_hits_total{variant=\"a\"}"), 3) << m;
    EXPECT_EQ(metric_value(m, "edgelm_response_cache_misses_total{variant=\"a\"}"), 2) << m;
}

TEST_F(ServeRoutingTest, AbVariantsAreStickyPerUserAndCollectFeedback) {
    ServeProcess p({a_->path, "--model-b", b_->path, "--split", "0.5", "-t", "1"});
    const json req = {{"prompt", "the"}, {"max_tokens", 2}};
    std::set<std::string> seen;
    for (int u = 0; u < 20; ++u) {
        json r = req;
        r["user"] = "user-" + std::to_string(u);
        const std::string first =
            post(p, "/v1/completions", r)->get_header_value("X-Edgelm-Variant");
        EXPECT_EQ(post(p, "/v1/completions", r)->get_header_value("X-Edgelm-Variant"), first);
        seen.insert(first);
    }
    EXPECT_EQ(seen, (std::set<std::string>{"a", "b"}));
    const auto by_header = post(p, "/v1/completions", req, {{"X-Edgelm-User", "user-3"}});
    json as_field = req;
    as_field["user"] = "user-3";
    EXPECT_EQ(by_header->get_header_value("X-Edgelm-Variant"),
              post(p, "/v1/completions", as_field)->get_header_value("X-Edgelm-Variant"));
    // Feedback on a response counts for the variant that gave it.
    const std::string id = json::parse(by_header->body)["id"];
    const std::string variant = by_header->get_header_value("X-Edgelm-Variant");
    EXPECT_EQ(post(p, "/v1/feedback", {{"id", id}, {"score", 1}})->status, 200);
    EXPECT_EQ(post(p, "/v1/feedback", {{"id", id}, {"score", -1}})->status, 200);
    EXPECT_EQ(post(p, "/v1/feedback", {{"id", "nope"}, {"score", 1}})->status, 404);
    EXPECT_EQ(post(p, "/v1/feedback", {{"id", id}, {"score", 7}})->status, 400);
    const std::string m = scrape(p);
    EXPECT_EQ(metric_value(m, "edgelm_feedback_total{variant=\"" + variant + "\"}"), 2) << m;
    EXPECT_EQ(metric_value(m, "edgelm_feedback_positive_total{variant=\"" + variant + "\"}"), 1)
        << m;
    EXPECT_NE(m.find("edgelm_model_info{variant=\"b\""), std::string::npos);
    // edgelm ab-report reads the same scrape.
    const std::string out = testing::temp_path("ab.json");
    const int status = std::system((std::string(EDGELM_BIN) + " ab-report http://127.0.0.1:" +
                                    std::to_string(p.port()) + " --json > " + out)
                                       .c_str());
    ASSERT_EQ(WEXITSTATUS(status), 0);
    std::ifstream f(out);
    const json report = json::parse(f);
    EXPECT_EQ(report["variants"].size(), 2u);
    EXPECT_GT(report["variants"]["a"]["requests"].get<double>() +
                  report["variants"]["b"]["requests"].get<double>(),
              40);
    EXPECT_EQ(report["variants"][variant]["feedback"], 2);
    std::filesystem::remove(out);
}

}  // namespace
}  // namespace edgelm
