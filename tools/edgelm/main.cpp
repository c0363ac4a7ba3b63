// edgelm: from a text corpus to a small language model on an edge device.
#include "commands.h"

int main(int argc, char** argv) {
    CLI::App app{"edgelm: train, compress, check and run small language models on edge devices"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "edgelm 0.1.0");
    edgelm::cli::add_inspect(app);
    edgelm::cli::add_init(app);
    edgelm::cli::add_run(app);
    edgelm::cli::add_serve(app);
    edgelm::cli::add_chat(app);
    edgelm::cli::add_ab_report(app);
    edgelm::cli::add_perplexity(app);
    edgelm::cli::add_classify(app);
    edgelm::cli::add_eval(app);
    edgelm::cli::add_compare(app);
    edgelm::cli::add_bench(app);
    edgelm::cli::add_quantize(app);
    edgelm::cli::add_prune(app);
    edgelm::cli::add_cluster(app);
    edgelm::cli::add_merge_lora(app);
    edgelm::cli::add_compress(app);
    edgelm::cli::add_tokenizer(app);
    edgelm::cli::add_data(app);
    edgelm::cli::add_trainer_commands(app);
    return edgelm::cli::run_app(app, argc, argv);
}
