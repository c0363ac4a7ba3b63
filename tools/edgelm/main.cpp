// edgelm: from a text corpus to a small language model on an edge device.
#include <cstdio>
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

}  // namespace edgelm::cli

int main(int argc, char** argv) {
    CLI::App app{"edgelm: train, compress, check and run small language models on edge devices"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "edgelm 0.1.0");
    edgelm::cli::add_inspect(app);
    edgelm::cli::add_init(app);
    edgelm::cli::add_run(app);
    edgelm::cli::add_perplexity(app);
    edgelm::cli::add_bench(app);
    edgelm::cli::add_quantize(app);
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
    } catch (const edgelm::Error& e) {
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
