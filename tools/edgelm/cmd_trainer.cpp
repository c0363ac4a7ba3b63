// `edgelm train` and `edgelm export` run the edgelm-train program (tools/edgelm-train),
// which holds the libtorch trainer; see CMakeLists.txt for why it is a separate process.
// Every argument after the command name is passed through unchanged.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "commands.h"
#include "core/error.h"
#include "train/openmp_spin.h"

namespace edgelm::cli {

namespace {

std::string trainer_path() {
    if (const char* env = std::getenv("EDGELM_TRAIN_BIN")) return env;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) return (self.parent_path() / "edgelm-train").string();
    return "edgelm-train";
}

// argv[0] "edgelm": the trainer's usage lines then read as the command the user typed.
std::vector<std::string> trainer_argv(const std::string& command,
                                      const std::vector<std::string>& args) {
    std::vector<std::string> all = {"edgelm", command};
    all.insert(all.end(), args.begin(), args.end());
    return all;
}

Error no_trainer(const std::string& path) {
    return Error("cannot run the trainer " + path + " (" + std::strerror(errno) +
                 "): this edgelm was built without it; install libtorch-dev and build with "
                 "-DEDGELM_TRAIN=ON (`make build` does)");
}

[[noreturn]] void exec_trainer(const std::string& command, const std::vector<std::string>& args) {
    const std::string path = trainer_path();
    std::vector<std::string> all = trainer_argv(command, args);
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    train::set_short_openmp_spin();  // so edgelm-train need not restart itself
    std::fflush(stdout);
    execv(path.c_str(), argv.data());
    throw no_trainer(path);
}

}  // namespace

int run_trainer(const std::string& command, const std::vector<std::string>& args) {
    const std::string path = trainer_path();
    if (access(path.c_str(), X_OK) != 0) throw no_trainer(path);
    train::set_short_openmp_spin();  // inherited by the child
    return run_child(path, trainer_argv(command, args));
}

void add_trainer_commands(CLI::App& app) {
    for (const auto& [name, help] :
         {std::pair{
              "train",
              "Train a llama-family model on token shards (libtorch; see `edgelm train --help`)"},
          std::pair{"distill",
                    "Train a student with a teacher's soft targets (see `edgelm distill --help`)"},
          std::pair{"finetune",
                    "Train LoRA adapters or a classification head on a base model (see "
                    "`edgelm finetune --help`)"},
          std::pair{"export", "Write a training checkpoint as a GGUF model"}}) {
        CLI::App* sub = app.add_subcommand(name, help);
        sub->prefix_command();
        sub->set_help_flag();  // --help goes to the trainer, which knows the options
        const std::string command = name;
        sub->callback([sub, command] { exec_trainer(command, sub->remaining()); });
    }
}

}  // namespace edgelm::cli
