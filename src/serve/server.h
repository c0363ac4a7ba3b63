// edgelm serve's HTTP side: OpenAI's wire format over cpp-httplib (no HTTP parsing of our
// own), in front of one Engine per model variant. Routes: POST /v1/completions,
// /v1/chat/completions, /v1/embeddings, /v1/classify, /v1/feedback; GET /v1/models,
// /health, /metrics. Every error is OpenAI's {"error": {message, type, param, code}} with
// the status that fits; every response says where its answer came from
// (X-Edgelm-Source: local, cache or fallback) and which variant answered
// (X-Edgelm-Variant: a or b). The server listens before the model is loaded (/health
// answers 503 until attach()), and drain() finishes what is in flight before it stops.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/lora_adapter.h"
#include "runtime/model.h"
#include "serve/chat_template.h"
#include "serve/engine.h"
#include "serve/metrics.h"
#include "serve/response_cache.h"
#include "serve/upstream.h"

namespace httplib {
class Server;
}

namespace edgelm::serve {

// One model the server answers with: variant "a", and "b" under A/B testing.
struct ServedModel {
    std::string variant;
    std::shared_ptr<const Model> model;
    Engine* engine = nullptr;
    std::string model_id;  // what /v1/models lists and responses name
    ChatFormat chat_format = ChatFormat::Plain;
    std::string fingerprint;                  // hex of the model file's header fingerprint
    std::vector<std::string> control_tokens;  // their text may not appear in chat messages
};

// When a request goes to the upstream instead of (or after) the local model.
struct FallbackPolicy {
    bool on_length = false;     // the prompt does not fit the local context
    bool on_overload = false;   // every slot and the queue are taken
    double confidence = -1;     // local answer's mean token probability below this; -1: off
    int confidence_tokens = 8;  // a stream decides on its first this many tokens
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port (bind() returns it)
    size_t max_body = 1 << 20;
    double timeout_s = 600;  // per request, queue wait included
    std::string api_key;     // empty: no key needed
    bool log_json = false;   // one JSON line per request on stderr (else a plain line)
    std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters;  // by --lora NAME
    int slots_hint = 4, queue_hint = 16;  // the engine's, to size the HTTP thread pool
    double split = 0;                     // share of requests for variant b
    UpstreamOptions upstream;             // base_url empty: no fallback
    FallbackPolicy fallback;
    size_t cache_bytes = 0;  // 0: no response cache
    double cache_ttl_s = 300;
};

class Server {
  public:
    explicit Server(ServerOptions options);
    ~Server();
    // Binds the listening socket; returns the port. Throws IoError if it cannot.
    int bind();
    // Serves until stop() (call from another thread). Requests before attach() get 503.
    void run();
    // The adapters requests may name (loaded after the model, before attach()).
    void set_adapters(std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters) {
        options_.adapters = std::move(adapters);
    }
    // Makes the models live (variant a, and b for A/B); they outlive the server.
    void attach(std::vector<ServedModel> models);
    // Refuses new requests (503), waits up to `grace_s` for those in flight, then stops.
    void drain(double grace_s);
    void stop();
    Metrics& metrics() { return metrics_; }

    struct Handlers;  // the route handlers (server_handlers.h)

  private:
    friend struct Handlers;
    friend struct Generation;

    // The variant that gave response number n ("cmpl-n", "chatcmpl-n"), for /v1/feedback
    // ("" when the number is handed out, so an unanswered id is unknown):
    // one byte per id in a ring of the most recent kFeedbackIds, allocated once, so
    // remembering costs no memory per request.
    void remember_response(uint64_t n, const std::string& variant);
    std::string variant_of(const std::string& id) const;
    static constexpr uint64_t kFeedbackIds = 100000;

    ServerOptions options_;
    std::unique_ptr<httplib::Server> http_;
    Metrics metrics_;
    std::vector<ServedModel> models_;
    std::unique_ptr<Upstream> upstream_;
    std::unique_ptr<ResponseCache> cache_;
    std::atomic<bool> ready_{false}, draining_{false};
    std::atomic<int> in_flight_{0};  // requests being answered (streams included)
    std::atomic<uint64_t> next_id_{1};
    mutable std::mutex responses_mutex_;
    std::vector<uint8_t> answered_by_ =
        std::vector<uint8_t>(kFeedbackIds, 0);  // 0: none, 1: a, 2: b
};

}  // namespace edgelm::serve
