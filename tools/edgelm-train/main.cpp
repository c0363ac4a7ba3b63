// edgelm-train: the libtorch side of edgelm (`edgelm train`, `edgelm export` run it).
#include "commands.h"
#include "train/openmp_spin.h"

int main(int argc, char** argv) {
    edgelm::train::restart_with_short_openmp_spin(argv);
    CLI::App app{"edgelm-train: train llama-family models and export checkpoints (libtorch)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "edgelm-train 0.1.0");
    edgelm::cli::add_train(app);
    edgelm::cli::add_distill(app);
    edgelm::cli::add_finetune(app);
    edgelm::cli::add_export(app);
    return edgelm::cli::run_app(app, argc, argv);
}
