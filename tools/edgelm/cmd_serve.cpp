// edgelm serve MODEL: the OpenAI-compatible server (src/serve, docs/serving.md).
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "serve/server.h"

namespace edgelm::cli {

namespace {

struct ServeOptions {
    std::string model, api_key_file;
    std::vector<std::string> lora;
    serve::ServerOptions server;
    serve::EngineOptions engine;
};

std::string read_key(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw IoError(path + ": cannot read the API key file");
    std::string key;
    std::getline(f, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (key.empty()) throw ArgumentError(path + ": the API key file's first line is empty");
    return key;
}

void run_serve(ServeOptions o) {
    if (o.engine.threads < 1) throw ArgumentError("serve: --threads must be >= 1");
    if (o.server.timeout_s <= 0) throw ArgumentError("serve: --timeout must be > 0 seconds");
    if (o.server.max_body < 1024) throw ArgumentError("serve: --max-body must be >= 1024 bytes");
    if (!o.api_key_file.empty()) o.server.api_key = read_key(o.api_key_file);
    o.server.slots_hint = o.engine.slots;
    o.server.queue_hint = o.engine.queue;

    // SIGTERM and SIGINT are taken by sigwait below, in this thread, after every other
    // thread (which inherits this mask) has been started.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client that left: a failed write, not a dead server

    serve::Server server(o.server);
    const int port = server.bind();
    std::thread http([&] { server.run(); });
    std::unique_ptr<serve::Engine> engine;
    try {
        auto model = Model::load(o.model);
        for (const std::string& arg : o.lora) {
            const size_t eq = arg.find('=');
            if (eq == 0 || eq == std::string::npos || eq + 1 == arg.size())
                throw ArgumentError("serve: --lora takes NAME=FILE (got \"" + arg + "\")");
            o.server.adapters[arg.substr(0, eq)] =
                LoraAdapter::load(arg.substr(eq + 1), model->config());
        }
        engine = std::make_unique<serve::Engine>(model, o.engine);
        server.set_adapters(o.server.adapters);
        server.attach(model, engine.get(), std::filesystem::path(o.model).stem().string());
    } catch (...) {
        server.stop();
        http.join();
        throw;
    }
    std::printf("edgelm serve: ready at http://%s:%d/v1 (%d slots x %d tokens, %d threads)\n",
                o.server.host.c_str(), port, engine->slots(), engine->n_ctx(), o.engine.threads);
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "edgelm serve: %s, finishing requests in flight\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.drain(o.server.timeout_s);
    http.join();
    engine.reset();
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
    sub->add_option(
        "--lora", o->lora,
        "NAME=FILE: load a LoRA adapter that requests select with \"lora\": [{\"name\": "
        "NAME, \"scale\": S}]; repeatable");
    sub->add_flag("--log-json", o->server.log_json, "Log one JSON object per request on stderr");
    sub->callback([o] { run_serve(*o); });
}

}  // namespace edgelm::cli
