// An `edgelm serve` child process on a loopback port for the end-to-end tests: started
// with --port 0, its URL read from the "ready at" line (bounded wait), stopped with
// SIGTERM (drain) or killed when the test ends.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace edgelm::testing {

class ServeProcess {
  public:
    explicit ServeProcess(std::vector<std::string> args) {
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            std::vector<std::string> argv = {EDGELM_BIN, "serve",  "--port",
                                             "0",        "--host", "127.0.0.1"};
            argv.insert(argv.end(), args.begin(), args.end());
            std::vector<char*> c;
            for (auto& a : argv) c.push_back(a.data());
            c.push_back(nullptr);
            execv(c[0], c.data());
            _exit(127);
        }
        close(out[1]);
        stdout_ = out[0];
        // "edgelm serve: ready at http://127.0.0.1:PORT/v1 ..." within 30 s.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        std::string text;
        while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
            pollfd p{stdout_, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            char buf[256];
            const ssize_t n = read(stdout_, buf, sizeof buf);
            if (n <= 0) break;
            text.append(buf, static_cast<size_t>(n));
        }
        const size_t at = text.find("http://127.0.0.1:");
        if (at == std::string::npos) {
            kill_now();
            throw std::runtime_error("edgelm serve did not start: " + text);
        }
        port_ = std::stoi(text.substr(at + 17));
    }
    ~ServeProcess() { kill_now(); }

    int port() const { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

    // SIGTERM, then the exit status (bounded wait; -1 if it had to be killed).
    int terminate(int seconds = 30) {
        if (pid_ <= 0) return -1;
        kill(pid_, SIGTERM);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (std::chrono::steady_clock::now() < until) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        kill_now();
        return -1;
    }

  private:
    void kill_now() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
        if (stdout_ >= 0) close(stdout_);
        stdout_ = -1;
    }
    pid_t pid_ = -1;
    int stdout_ = -1;
    int port_ = 0;
};

// POST `path`, the body handed to on_data as it arrives (false: hang up).
inline httplib::Result post_streaming(httplib::Client& c, const nlohmann::json& body,
                                      std::function<bool(const char*, size_t)> on_data,
                                      const std::string& path = "/v1/completions") {
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.headers = {{"Content-Type", "application/json"}};
    req.body = body.dump();
    req.content_receiver = [on_data](const char* d, size_t n, uint64_t, uint64_t) {
        return on_data(d, n);
    };
    return c.send(req);
}

// The value of one series in a Prometheus scrape (-1 if absent).
inline double metric_value(const std::string& scrape, const std::string& series) {
    const size_t at = scrape.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(scrape.substr(at + series.size() + 2));
}

// The text of a completion stream's events, concatenated (chat deltas or completion text).
inline std::string stream_text(const std::string& sse) {
    std::string text;
    size_t at = 0;
    for (size_t next; (next = sse.find("\n\n", at)) != std::string::npos; at = next + 2) {
        const std::string event = sse.substr(at, next - at);
        if (event.rfind("data: {", 0) != 0) continue;
        const auto j = nlohmann::json::parse(event.substr(6));
        if (!j.contains("choices") || j["choices"].empty()) continue;
        const auto& c = j["choices"][0];
        if (c.contains("text")) text += c["text"].get<std::string>();
        if (c.contains("delta") && c["delta"].contains("content"))
            text += c["delta"]["content"].get<std::string>();
    }
    return text;
}

}  // namespace edgelm::testing
