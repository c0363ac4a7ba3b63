// Helpers shared by the edgelm and edgelm-train programs (commands.h).
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>

#include "commands.h"
#include "core/error.h"

namespace edgelm::cli {

int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

std::string human_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

int run_child(const std::string& path, std::vector<std::string> argv, std::string* captured) {
    int fds[2] = {-1, -1};
    if (captured && pipe(fds) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw Error("cannot start " + path + ": " + std::strerror(errno));
    if (pid == 0) {
        if (captured) {
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
        }
        std::vector<char*> args;
        for (std::string& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        execv(path.c_str(), args.data());
        std::fprintf(stderr, "edgelm: error: cannot run %s (%s)\n", path.c_str(),
                     std::strerror(errno));
        _exit(127);
    }
    if (captured) {
        close(fds[1]);
        char buf[4096];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) captured->append(buf, static_cast<size_t>(n));
        close(fds[0]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw Error("waiting for " + path + ": " + std::strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::function<void(int64_t, int64_t)> window_progress() {
    return [](int64_t done, int64_t total) {
        std::fprintf(stderr, "\rwindow %lld/%lld", static_cast<long long>(done),
                     static_cast<long long>(total));
        if (done == total) std::fputc('\n', stderr);
    };
}

int run_app(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line, like every other error; usage errors exit with 2.
        std::fprintf(stderr, "edgelm: error: %s (see edgelm --help)\n", e.what());
        return 2;
    } catch (const Error& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "edgelm: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "edgelm: error: %s\n", e.what());
        return 1;
    }
    return 0;
}

std::vector<LoraBinding> load_lora_arguments(const std::vector<std::string>& args,
                                             const ModelConfig& model) {
    std::vector<LoraBinding> out;
    for (const std::string& a : args) {
        const auto [path, scale] = parse_lora_argument(a);
        out.push_back({LoraAdapter::load(path, model), scale});
    }
    return out;
}

}  // namespace edgelm::cli
