// edgelm compress IN -o OUT --stages "prune:ffn:0.5,recover:300,quantize:q4_0" --eval TEXT
//   [--data SHARDS] [--calibration TEXT] [--json FILE] [--report FILE.html]
// Runs the stages in order, each on the previous stage's model (kept in OUT.stages/), and
// after each measures what it cost and bought against the input: size, perplexity and bits
// per byte on the held-out text, KL divergence and top-1 agreement, decode speed and peak
// RSS (of a separate `edgelm bench` process on the file, so models do not share a heap).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "compression_report.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "eval/model_comparison.h"
#include "gguf/gguf_reader.h"
#include "quant/calibration.h"
#include "quant/cluster_model.h"
#include "quant/compression_stages.h"
#include "quant/magnitude_prune.h"
#include "quant/quantize_model.h"
#include "quant/structured_prune.h"
#include "runtime/model.h"

namespace edgelm::cli {

namespace {

namespace fs = std::filesystem;

struct CompressCliOptions {
    std::string in, out, stages, eval, data, calibration, json_path, report_path;
    double recover_lr = 3e-4;
    std::string teacher;
    double temperature = 2.0, alpha = 0.5;
    std::vector<std::string> tensor_rates;  // for cluster stages
    int64_t calibration_tokens = 8192;
    int threads = default_threads();
};

// Runs this program with `args` and returns what it printed; throws if it fails.
std::string run_self(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"edgelm"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    if (run_child("/proc/self/exe", argv, &out) != 0)
        throw Error("`edgelm " + args.at(0) + "` on " + args.at(1) + " failed");
    return out;
}

// The file's size with every tensor stored as f32 (metadata, the vocabulary, included).
uint64_t f32_bytes(const std::string& path) {
    const GgufFile file(path);
    uint64_t size = file.file_size();
    for (const GgufTensor& t : file.tensors())
        size += 4 * static_cast<uint64_t>(t.n_elements) - t.bytes;
    return size;
}

class StageRunner {
  public:
    explicit StageRunner(const CompressCliOptions& o)
        : o_(o),
          original_(Model::load(o.in)),
          eval_text_(read_text_file(o.eval)),
          f32_bytes_(f32_bytes(o.in)) {
        if (!o.calibration.empty()) calibration_text_ = read_text_file(o.calibration);
    }

    StageMeasurement measure(const std::string& stage, const std::string& file) {
        std::fprintf(stderr, "measuring %s\n", file.c_str());
        auto model = Model::load(file);
        PerplexityParams p;
        p.n_threads = o_.threads;
        const ComparisonResult c = compare_models(original_, model, eval_text_, p);
        // A short prompt and a decode run that fit the model's context.
        const int ctx = model->config().ctx, n_prompt = std::max(1, std::min(32, ctx / 4));
        const int n_gen = std::min(64, ctx - n_prompt);
        const nlohmann::json bench = nlohmann::json::parse(
            run_self({"bench", file, "-p", std::to_string(n_prompt), "-n", std::to_string(n_gen),
                      "-r", "3", "-t", std::to_string(o_.threads), "--json"}));
        StageMeasurement m;
        m.stage = stage;
        m.file = file;
        m.size_bytes = fs::file_size(file);
        m.params = model->config().n_params();
        m.ratio_to_f32 = static_cast<double>(f32_bytes_) / static_cast<double>(m.size_bytes);
        m.perplexity = c.b.perplexity;
        m.bits_per_byte = c.b.bits_per_byte;
        m.mean_kl = c.mean_kl;
        m.top1_agreement = c.top1_agreement;
        m.decode_tok_s = bench["decode_tok_s"]["median"].get<double>();
        m.peak_rss_bytes = bench["peak_rss_bytes"].get<uint64_t>();
        return m;
    }

    // Runs one stage on `from`, writing `to`.
    void run(const CompressionStage& s, const std::string& from, const std::string& to,
             const std::string& work_dir) {
        std::fprintf(stderr, "== %s\n", s.spec.c_str());
        switch (s.kind) {
            case StageKind::Prune: {
                if (s.unstructured) {
                    MagnitudePruneOptions m;
                    m.sparsity = s.amount;
                    m.sparse_storage = false;  // the next stages need the dense matrices
                    prune_magnitude(from, to, m);
                    break;
                }
                StructuredPruneOptions p;
                p.unit = s.unit;
                p.amount = s.amount;
                CalibrationStats stats = calibration(from);
                if (!calibration_text_.empty()) p.calibration = &stats;
                prune_structured(from, to, p);
                break;
            }
            case StageKind::Recover: {
                std::vector<std::string> args = {
                    "--init-from",
                    from,
                    "--keep-pruned",
                    "--data",
                    o_.data,
                    "-o",
                    to + ".run",
                    "--steps",
                    std::to_string(s.steps),
                    "--lr",
                    std::to_string(o_.recover_lr),
                    "--warmup",
                    std::to_string(std::min<int64_t>(20, s.steps / 10)),
                    "--eval-every",
                    "0",
                    "-t",
                    std::to_string(o_.threads),
                    "-q",
                    "--export",
                    to};
                if (!o_.teacher.empty()) {  // win the quality back from the teacher
                    args.insert(args.end(), {"--teacher", o_.teacher, "--temperature",
                                             std::to_string(o_.temperature), "--alpha",
                                             std::to_string(o_.alpha)});
                }
                const int status = run_trainer("train", args);
                if (status != 0)
                    throw Error("stage " + s.spec + ": training failed (exit status " +
                                std::to_string(status) + "); stage files are in " + work_dir);
                break;
            }
            case StageKind::Quantize: {
                QuantizeOptions q(s.type);
                q.n_threads = o_.threads;
                CalibrationStats stats = calibration(from);
                if (!calibration_text_.empty()) q.calibration = &stats;
                quantize_model(from, to, q);
                break;
            }
            case StageKind::Cluster: {
                ClusterModelOptions c;
                c.params.bits = s.bits;
                c.params.rate = s.rate;
                for (const std::string& r : o_.tensor_rates)
                    c.tensor_rates.push_back(parse_tensor_rate(r));
                c.n_threads = o_.threads;
                CalibrationStats stats = calibration(from);
                if (!calibration_text_.empty()) c.calibration = &stats;
                cluster_model(from, to, c);
                break;
            }
        }
    }

  private:
    CalibrationStats calibration(const std::string& model_path) {
        if (calibration_text_.empty()) return {};
        CalibrationParams cp;
        cp.max_tokens = o_.calibration_tokens;
        cp.n_threads = o_.threads;
        return collect_calibration_stats(Model::load(model_path), calibration_text_, cp);
    }

    const CompressCliOptions& o_;
    std::shared_ptr<const Model> original_;
    std::string eval_text_, calibration_text_;
    uint64_t f32_bytes_;
};

void write_text(const std::string& path, const std::string& text) {
    AtomicFileWriter w(path);
    w.write(text.data(), text.size());
    w.commit();
}

void run_compress(const CompressCliOptions& o) {
    const std::vector<CompressionStage> stages = parse_compression_stages(o.stages);
    for (const CompressionStage& s : stages)
        if (s.kind == StageKind::Recover && o.data.empty())
            throw ArgumentError("--stages: '" + s.spec +
                                "' needs --data SHARDS (made with the model's tokenizer)");
    for (const std::string& r : o.tensor_rates) parse_tensor_rate(r);  // refuse bad rules now
    if (!o.tensor_rates.empty() &&
        std::none_of(stages.begin(), stages.end(),
                     [](const CompressionStage& s) { return s.kind == StageKind::Cluster; }))
        throw ArgumentError("--tensor-rate applies to cluster stages, and --stages has none");
    require_distinct_output(o.in, o.out);
    StageRunner runner(o);
    const std::string work_dir = o.out + ".stages";
    fs::create_directories(work_dir);

    std::vector<StageMeasurement> measured = {runner.measure("input", o.in)};
    std::string current = o.in;
    for (size_t i = 0; i < stages.size(); ++i) {
        std::string name = stages[i].spec;
        for (char& ch : name)
            if (ch == ':') ch = '-';
        const std::string next =
            (fs::path(work_dir) / (std::to_string(i + 1) + "-" + name + ".gguf")).string();
        runner.run(stages[i], current, next, work_dir);
        measured.push_back(runner.measure(stages[i].spec, next));
        current = next;
    }
    const fs::path tmp = o.out + ".tmp";
    fs::copy_file(current, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, o.out);

    std::printf("%s", report_table(measured).c_str());
    const nlohmann::json report = report_json(o.in, o.eval, measured);
    if (!o.json_path.empty()) write_text(o.json_path, report.dump(2) + "\n");
    if (!o.report_path.empty()) write_text(o.report_path, report_html(report));
    std::printf("wrote %s (stage files in %s)\n", o.out.c_str(), work_dir.c_str());
}

}  // namespace

void add_compress(CLI::App& app) {
    auto o = std::make_shared<CompressCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "compress", "Run compression stages in order and report what each cost and bought");
    sub->add_option("input", o->in, "Input GGUF model (f32 or f16)")->required();
    sub->add_option("-o,--out", o->out, "The final model")->required();
    sub->add_option(
           "--stages", o->stages,
           "Comma-separated: prune:S, prune:ffn|heads|layers:A, recover:STEPS, quantize:TYPE, "
           "cluster:BITS[:RATE]")
        ->required();
    sub->add_option("--eval", o->eval, "Held-out text for perplexity, KL and agreement")
        ->required();
    sub->add_option("--data", o->data, "Token shards for recover stages");
    sub->add_option("--calibration", o->calibration,
                    "Text that ranks pruning by activations and calibrates q8_0/q4_0 (GPTQ)");
    sub->add_option("--calibration-tokens", o->calibration_tokens, "Calibration tokens")
        ->capture_default_str();
    sub->add_option("--recover-lr", o->recover_lr, "Learning rate of recover stages")
        ->capture_default_str();
    sub->add_option("--tensor-rate", o->tensor_rates,
                    "GLOB=RATE for cluster stages: another rate for the matching matrices, e.g. "
                    "token_embd.weight=3.3 (see `edgelm cluster --help`)");
    sub->add_option("--teacher", o->teacher,
                    "Recover stages distil from this model (usually the input) instead of "
                    "training on the data's next tokens alone (`edgelm distill`)");
    sub->add_option("--temperature", o->temperature, "Distillation temperature of --teacher")
        ->capture_default_str();
    sub->add_option("--alpha", o->alpha,
                    "Weight of the distillation term with --teacher (1 - alpha: cross-entropy)")
        ->capture_default_str();
    sub->add_option("--json", o->json_path, "Write the measurements as JSON");
    sub->add_option("--report", o->report_path, "Write an HTML report with a size/quality chart");
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->callback([o] { run_compress(*o); });
}

}  // namespace edgelm::cli
