// The edgelm command-line tool: one file per subcommand. Each add_* declares its flags
// once (name, default, help: CLI11 derives parsing and --help from them) and sets the
// callback that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/lora_adapter.h"

namespace edgelm::cli {

void add_inspect(CLI::App& app);
void add_init(CLI::App& app);
void add_run(CLI::App& app);
void add_serve(CLI::App& app);
void add_chat(CLI::App& app);
void add_ab_report(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_classify(CLI::App& app);  // classify
void add_eval(CLI::App& app);      // eval --task classify
void add_compare(CLI::App& app);
void add_bench(CLI::App& app);
void add_quantize(CLI::App& app);
void add_prune(CLI::App& app);
void add_cluster(CLI::App& app);
void add_merge_lora(CLI::App& app);
void add_compress(CLI::App& app);
void add_tokenizer(CLI::App& app);  // tokenizer train
void add_data(CLI::App& app);       // data prepare
// `train`, `distill`, `finetune` and `export` in edgelm: they run the edgelm-train program.
void add_trainer_commands(CLI::App& app);
// Runs `edgelm-train COMMAND ARGS...` as a child process; returns its exit status.
int run_trainer(const std::string& command, const std::vector<std::string>& args);

// In edgelm-train (tools/edgelm-train/cmd_train.cpp).
void add_train(CLI::App& app);
void add_distill(CLI::App& app);
void add_finetune(CLI::App& app);
void add_export(CLI::App& app);

// Parses and runs; errors become one `edgelm: error: ...` line and a non-zero exit.
int run_app(CLI::App& app, int argc, char** argv);

// Runs the program at `path` with `argv` (argv[0] included) as a child process and waits
// for it; with `captured`, its standard output is collected there. Returns its exit status
// (128 + the signal if it was killed).
int run_child(const std::string& path, std::vector<std::string> argv,
              std::string* captured = nullptr);

// A progress callback for window-by-window evaluations: "window N/M" on stderr.
std::function<void(int64_t, int64_t)> window_progress();

// `--lora FILE[:SCALE]` arguments, loaded and checked against the model's shape.
std::vector<LoraBinding> load_lora_arguments(const std::vector<std::string>& args,
                                             const ModelConfig& model);

// Threads to use by default: the machine's hardware threads.
int default_threads();
// "15.4 MiB"
std::string human_bytes(uint64_t bytes);

}  // namespace edgelm::cli
