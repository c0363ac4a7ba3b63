// The edgelm command-line tool: one file per subcommand. Each add_* declares its flags
// once (name, default, help: CLI11 derives parsing and --help from them) and sets the
// callback that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace edgelm::cli {

void add_inspect(CLI::App& app);
void add_init(CLI::App& app);
void add_run(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_bench(CLI::App& app);
void add_quantize(CLI::App& app);

// Threads to use by default: the machine's hardware threads.
int default_threads();
// "15.4 MiB"
std::string human_bytes(uint64_t bytes);

}  // namespace edgelm::cli
