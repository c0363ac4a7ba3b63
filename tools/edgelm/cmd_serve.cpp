// edgelm serve MODEL: the OpenAI-compatible server (src/serve, docs/serving.md).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "core/split.h"
#include "serve/server.h"

namespace edgelm::cli {

namespace {

struct ServeOptions {
    std::string model, model_b, api_key_file, fallback_key_file, fallback_when = "length,overload";
    double cache_mb = 0, prefix_cache_mb = 0;
    std::vector<std::string> lora;
    serve::ServerOptions server;
    serve::EngineOptions engine;
};

std::string read_key(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw IoError(path + ": cannot read the key file");
    std::string key;
    std::getline(f, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (key.empty()) throw ArgumentError(path + ": the key file's first line is empty");
    return key;
}

// --fallback-when length,overload,confidence:T
serve::FallbackPolicy parse_fallback_when(const std::string& spec) {
    serve::FallbackPolicy p;
    for (const std::string& item : split_fields(spec, ',')) {
        if (item == "length") {
            p.on_length = true;
        } else if (item == "overload") {
            p.on_overload = true;
        } else if (item.rfind("confidence:", 0) == 0) {
            char* end = nullptr;
            p.confidence = std::strtod(item.c_str() + 11, &end);
            if (*end != '\0' || !(p.confidence >= 0 && p.confidence <= 1))
                throw ArgumentError(
                    "serve: --fallback-when confidence:T needs T between 0 and 1 (got \"" + item +
                    "\")");
        } else {
            throw ArgumentError(
                "serve: --fallback-when takes length, overload and confidence:T, comma-separated "
                "(got \"" +
                item + "\")");
        }
    }
    return p;
}

void check(ServeOptions& o) {
    if (o.engine.threads < 1) throw ArgumentError("serve: --threads must be >= 1");
    if (o.server.timeout_s <= 0) throw ArgumentError("serve: --timeout must be > 0 seconds");
    if (o.server.max_body < 1024) throw ArgumentError("serve: --max-body must be >= 1024 bytes");
    if (!o.api_key_file.empty()) o.server.api_key = read_key(o.api_key_file);
    if (o.server.split < 0 || o.server.split > 1)
        throw ArgumentError("serve: --split must be between 0 and 1");
    if (o.server.split > 0 && o.model_b.empty())
        throw ArgumentError("serve: --split needs --model-b B.gguf");
    if (!o.model_b.empty() && o.server.split == 0) o.server.split = 0.5;
    if (!o.server.upstream.base_url.empty()) {
        o.server.fallback = parse_fallback_when(o.fallback_when);
        if (!o.fallback_key_file.empty()) o.server.upstream.api_key = read_key(o.fallback_key_file);
        if (o.server.upstream.timeout_s <= 0)
            throw ArgumentError("serve: --fallback-timeout must be > 0 seconds");
        o.server.upstream.timeout_s = std::min(o.server.upstream.timeout_s, o.server.timeout_s);
    } else if (!o.fallback_key_file.empty() || !o.server.upstream.model.empty()) {
        throw ArgumentError("serve: --fallback-key-file and --fallback-model need --fallback-url");
    }
    if (o.cache_mb < 0) throw ArgumentError("serve: --cache-mb must be >= 0");
    o.server.cache_bytes = static_cast<size_t>(o.cache_mb * 1024 * 1024);
    if (o.prefix_cache_mb < 0) throw ArgumentError("serve: --prefix-cache-mb must be >= 0");
    o.engine.prefix_cache_bytes = static_cast<size_t>(o.prefix_cache_mb * 1024 * 1024);
    o.server.slots_hint = o.engine.slots;
    o.server.queue_hint = o.engine.queue;
}

void run_serve(ServeOptions o) {
    check(o);
    // SIGTERM and SIGINT are taken by sigwait below, in this thread, after every other
    // thread (which inherits this mask) has been started.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client that left: a failed write, not a dead server

    // Listening first: /health answers 503 while the models load.
    serve::Server server(o.server);
    const int port = server.bind();
    std::thread http([&] { server.run(); });
    std::vector<std::unique_ptr<serve::Engine>> engines;
    try {
        std::vector<serve::ServedModel> served;
        for (const std::string& path : {o.model, o.model_b}) {
            if (path.empty()) continue;
            auto model = Model::load(path);
            engines.push_back(std::make_unique<serve::Engine>(model, o.engine));
            serve::ServedModel m;
            m.variant = served.empty() ? "a" : "b";
            m.model = model;
            m.engine = engines.back().get();
            m.model_id = std::filesystem::path(path).stem().string();
            served.push_back(std::move(m));
        }
        std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters;
        for (const std::string& arg : o.lora) {
            const size_t eq = arg.find('=');
            if (eq == 0 || eq == std::string::npos || eq + 1 == arg.size())
                throw ArgumentError("serve: --lora takes NAME=FILE (got \"" + arg + "\")");
            auto adapter = LoraAdapter::load(arg.substr(eq + 1), served[0].model->config());
            if (served.size() == 2)
                LoraAdapter::load(arg.substr(eq + 1), served[1].model->config());  // fits b
            adapters[arg.substr(0, eq)] = adapter;
        }
        server.set_adapters(std::move(adapters));
        server.attach(std::move(served));
    } catch (...) {
        server.stop();
        http.join();
        throw;
    }
    std::printf("edgelm serve: ready at http://%s:%d/v1 (%d slots x %d tokens, %d threads%s)\n",
                o.server.host.c_str(), port, engines[0]->slots(), engines[0]->n_ctx(),
                o.engine.threads, engines.size() == 2 ? ", A/B" : "");
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "edgelm serve: %s, finishing requests in flight\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.drain(o.server.timeout_s);
    http.join();
    engines.clear();
}

}  // namespace

void add_serve(CLI::App& app) {
    auto o = std::make_shared<ServeOptions>();
    o->engine.threads = default_threads();
    CLI::App* sub = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
    sub->add_option("model", o->model, "GGUF model")->required();
    sub->add_option("--host", o->server.host, "Address to listen on (loopback by default)")
        ->capture_default_str();
    sub->add_option("--port", o->server.port, "Port (0: any free port)")->capture_default_str();
    sub->add_option("--slots", o->engine.slots,
                    "Requests decoded at once (each has its own KV cache)")
        ->capture_default_str();
    sub->add_option("--ctx", o->engine.ctx, "Context per slot in tokens (0 = the model's)")
        ->capture_default_str();
    sub->add_option("--queue", o->engine.queue,
                    "Requests that may wait for a slot; beyond slots + queue: 503 at once")
        ->capture_default_str();
    sub->add_option("-t,--threads", o->engine.threads, "Threads for the model")
        ->capture_default_str();
    sub->add_option("--timeout", o->server.timeout_s, "Seconds a request may take, queue included")
        ->capture_default_str();
    sub->add_option("--max-body", o->server.max_body, "Largest request body in bytes (413 above)")
        ->capture_default_str();
    sub->add_option(
        "--api-key-file", o->api_key_file,
        "File whose first line is the key clients send as \"Authorization: Bearer KEY\"");
    sub->add_option("--lora", o->lora,
                    "NAME=FILE: load a LoRA adapter that requests select with \"lora\": "
                    "[{\"name\": NAME, \"scale\": "
                    "S}]; repeatable");
    sub->add_option("--model-b", o->model_b, "A second model for A/B tests (variant b)");
    sub->add_option("--split", o->server.split,
                    "Share of requests for variant b (sticky per \"user\" or X-Edgelm-User; 0.5 "
                    "with --model-b)");
    sub->add_option("--fallback-url", o->server.upstream.base_url,
                    "Base of an OpenAI-compatible API (http://host:port/v1) for requests the local "
                    "model should not "
                    "answer (unset: nothing leaves the device)");
    sub->add_option("--fallback-key-file", o->fallback_key_file,
                    "File whose first line is the upstream's API key");
    sub->add_option("--fallback-model", o->server.upstream.model,
                    "The \"model\" to ask the upstream for");
    sub->add_option("--fallback-when", o->fallback_when,
                    "When to fall back: length (prompt over --ctx), overload (no slot), "
                    "confidence:T (mean token "
                    "probability below T)")
        ->capture_default_str();
    sub->add_option("--fallback-timeout", o->server.upstream.timeout_s,
                    "Seconds an upstream call may take")
        ->capture_default_str();
    sub->add_option(
           "--cache-mb", o->cache_mb,
           "Response cache for deterministic requests (temperature 0 or a seed), in MiB (0: off)")
        ->capture_default_str();
    sub->add_option("--prefix-cache-mb", o->prefix_cache_mb,
                    "Keys and values of earlier prompts kept beyond the slots (MiB, LRU; 0: only "
                    "the slots')")
        ->capture_default_str();
    sub->add_option("--cache-ttl", o->server.cache_ttl_s, "Seconds a cached response is reused")
        ->capture_default_str();
    sub->add_flag("--log-json", o->server.log_json, "Log one JSON object per request on stderr");
    sub->callback([o] { run_serve(*o); });
}

}  // namespace edgelm::cli
