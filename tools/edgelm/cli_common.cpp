// Helpers shared by the edgelm and edgelm-train programs (commands.h).
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

}  // namespace edgelm::cli
