// `edgelm train` and `edgelm export` run the edgelm-train program (tools/edgelm-train),
// which holds the libtorch trainer; see CMakeLists.txt for why it is a separate process.
// Every argument after the command name is passed through unchanged.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

[[noreturn]] void exec_trainer(const std::string& command, const std::vector<std::string>& args) {
    const std::string path = trainer_path();
    // argv[0] "edgelm": the trainer's usage lines then read as the command the user typed.
    std::vector<std::string> all = {"edgelm", command};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    train::set_short_openmp_spin();  // so edgelm-train need not restart itself
    std::fflush(stdout);
    execv(path.c_str(), argv.data());
    throw Error("cannot run the trainer " + path + " (" + std::strerror(errno) +
                "): this edgelm was built without it; install libtorch-dev and build with "
                "-DEDGELM_TRAIN=ON (`make build` does)");
}

}  // namespace

int run_trainer(const std::string& command, const std::vector<std::string>& args) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw Error(std::string("cannot start the trainer: ") + std::strerror(errno));
    if (pid == 0) {
        try {
            exec_trainer(command, args);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "edgelm: error: %s\n", e.what());
        }
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            throw Error(std::string("waiting for the trainer: ") + std::strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void add_trainer_commands(CLI::App& app) {
    for (const auto& [name, help] :
         {std::pair{
              "train",
              "Train a llama-family model on token shards (libtorch; see `edgelm train --help`)"},
          std::pair{"export", "Write a training checkpoint as a GGUF model"}}) {
        CLI::App* sub = app.add_subcommand(name, help);
        sub->prefix_command();
        sub->set_help_flag();  // --help goes to the trainer, which knows the options
        const std::string command = name;
        sub->callback([sub, command] { exec_trainer(command, sub->remaining()); });
    }
}

}  // namespace edgelm::cli
