// edgelm serve's HTTP side: OpenAI's wire format over cpp-httplib (no HTTP parsing of our
// own), in front of the Engine. Routes: POST /v1/completions, /v1/chat/completions,
// /v1/embeddings, /v1/classify; GET /v1/models, /health, /metrics. Every error is
// OpenAI's {"error": {message, type, param, code}} with the status that fits; every
// response says where its answer came from (X-Edgelm-Source) and which model variant
// (X-Edgelm-Variant). The server listens before the model is loaded (/health answers
// 503 until attach()), and drain() finishes what is in flight before it stops.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "runtime/lora_adapter.h"
#include "runtime/model.h"
#include "serve/chat_template.h"
#include "serve/engine.h"
#include "serve/metrics.h"

namespace httplib {
class Server;
}

namespace edgelm::serve {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port (bind() returns it)
    size_t max_body = 1 << 20;
    double timeout_s = 600;  // per request, queue wait included
    std::string api_key;     // empty: no key needed
    bool log_json = false;   // one JSON line per request on stderr (else a plain line)
    std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters;  // by --lora NAME
    int slots_hint = 4, queue_hint = 16;  // the engine's, to size the HTTP thread pool
};

class Server {
  public:
    explicit Server(ServerOptions options);
    ~Server();
    // Binds the listening socket; returns the port. Throws IoError if it cannot.
    int bind();
    // Serves until stop() (call from another thread). Requests before attach() get 503.
    void run();
    // Makes the model and engine live (both outlive the server).
    void attach(std::shared_ptr<const Model> model, Engine* engine, std::string model_id);
    // The adapters requests may name (loaded after the model, before attach()).
    void set_adapters(std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters) {
        options_.adapters = std::move(adapters);
    }
    // Refuses new requests (503), waits up to `grace_s` for those in flight, then stops.
    void drain(double grace_s);
    void stop();
    Metrics& metrics() { return metrics_; }

  private:
  public:
    struct Handlers;  // the route handlers (server.cpp)

  private:
    friend struct Generation;

    ServerOptions options_;
    std::unique_ptr<httplib::Server> http_;
    Metrics metrics_;
    std::shared_ptr<const Model> model_;
    Engine* engine_ = nullptr;
    std::string model_id_;
    ChatFormat chat_format_ = ChatFormat::Plain;
    std::atomic<bool> ready_{false}, draining_{false};
    std::atomic<int> in_flight_{0};  // requests being answered (streams included)
    std::atomic<uint64_t> next_id_{1};
};

}  // namespace edgelm::serve
