// edgelm cluster IN OUT --bits B: k-means weight sharing with Huffman-coded indices.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/mapped_file.h"
#include "quant/cluster_model.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

struct ClusterCliOptions {
    std::string in, out;
    std::string calibration;
    std::vector<std::string> tensor_rates;
    int64_t calibration_tokens = 8192;
    ClusterModelOptions model;
    bool verbose = false;
};

void run_cluster(const ClusterCliOptions& o) {
    ClusterModelOptions options = o.model;
    for (const std::string& r : o.tensor_rates)
        options.tensor_rates.push_back(parse_tensor_rate(r));
    CalibrationStats stats;
    if (!o.calibration.empty()) {
        stats = collect_calibration_stats(
            Model::load(o.in), read_text_file(o.calibration),
            {.max_tokens = o.calibration_tokens, .n_threads = o.model.n_threads});
        std::fprintf(stderr, "calibration: %lld tokens in %lld windows of %s\n",
                     static_cast<long long>(stats.tokens), static_cast<long long>(stats.windows),
                     o.calibration.c_str());
        options.calibration = &stats;
    }
    const ClusterReport r = cluster_model(o.in, o.out, options);
    double bits = 0, n = 0;
    for (const TensorClusterReport& t : r.tensors) {
        bits += t.stored_bits * static_cast<double>(t.n);
        n += static_cast<double>(t.n);
        if (o.verbose)
            std::printf(
                "  %-32s %2d clusters%s, entropy %.2f, stored %.2f bits/weight, rmse %.3g%s\n",
                t.name.c_str(), t.clusters_used, t.zero_cluster ? " (one at 0)" : "", t.entropy,
                t.stored_bits, t.rmse, t.gptq ? " (gptq)" : "");
    }
    std::printf("wrote %s: %s -> %s (%.2fx smaller), matrices at %.2f bits/weight\n", o.out.c_str(),
                human_bytes(r.size_in).c_str(), human_bytes(r.size_out).c_str(),
                static_cast<double>(r.size_in) / static_cast<double>(r.size_out),
                n > 0 ? bits / n : 0.0);
}

}  // namespace

void add_cluster(CLI::App& app) {
    auto o = std::make_shared<ClusterCliOptions>();
    o->model.n_threads = default_threads();
    CLI::App* sub =
        app.add_subcommand("cluster",
                           "Share weights by k-means (2^bits values per tensor or row), store the "
                           "indices Huffman coded; edgelm runs the result");
    sub->add_option("input", o->in, "Input GGUF model (f32, f16 or bf16 matrices)")->required();
    sub->add_option("output", o->out, "Output GGUF model")->required();
    sub->add_option("--bits", o->model.params.bits, "Codebook size 2^bits, 1..8")
        ->capture_default_str();
    sub->add_flag("--per-row", o->model.params.per_row, "A codebook per row instead of per tensor");
    sub->add_option("--rate", o->model.params.rate,
                    "Target entropy of the indices, bits per weight (below --bits): assign by "
                    "entropy-constrained k-means so the Huffman stream shrinks (0: plain "
                    "k-means)")
        ->capture_default_str();
    sub->add_option("--tensor-rate", o->tensor_rates,
                    "GLOB=RATE: another --rate for the matching matrices (0: plain k-means), "
                    "e.g. token_embd.weight=3.5; repeatable, the first match wins");
    sub->add_option("--skip", o->model.skip,
                    "Glob of matrices to leave unclustered (e.g. token_embd.weight); repeatable");
    sub->add_flag("!--no-row-scales", o->model.params.row_scales,
                  "Per tensor: no per-row scale (one codebook for the raw weights)");
    sub->add_option("--calibration", o->calibration,
                    "Text of the target domain: choose indices by GPTQ over the inputs the "
                    "runtime computes on it, instead of the nearest center");
    sub->add_option("--calibration-tokens", o->calibration_tokens,
                    "Tokens of the calibration text to use (from its start)")
        ->capture_default_str();
    sub->add_option("--seed", o->model.params.seed, "Seed of the k-means++ initialisation")
        ->capture_default_str();
    sub->add_option("-t,--threads", o->model.n_threads, "Threads")->capture_default_str();
    sub->add_flag("-v,--verbose", o->verbose, "Print per-tensor clusters, bits and error");
    sub->callback([o] { run_cluster(*o); });
}

}  // namespace edgelm::cli
