// `edgelm train` / `edgelm export` end to end on a tiny corpus made at test time:
// training lowers the loss and exports a model the runtime runs; a run killed with SIGKILL
// and resumed gives exactly the loss curve of an uninterrupted run; two data-parallel
// processes (Gloo over loopback) end with the weights of one process on the same global
// batch; bad input gives one error line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_test_support.h"
#include "data_test_support.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "runtime/lora_adapter.h"
#include "runtime/model.h"
#include "runtime/ops.h"

namespace edgelm {
namespace {

using testing::read_file;
using testing::temp_dir;
using testing::temp_path;
using testing::write_file;

using testing::CliResult;
using testing::expect_one_error_line;
using testing::run_cli;

// step -> training loss, from a run's metrics.jsonl
std::map<int64_t, double> train_losses(const std::string& run_dir) {
    std::map<int64_t, double> out;
    std::istringstream in(read_file(run_dir + "/metrics.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        if (j.contains("loss")) out[j["step"].get<int64_t>()] = j["loss"].get<double>();
    }
    return out;
}

// The tiny shape every test trains, with one thread so that runs are bit-reproducible.
std::string shape(int dim = 32) {
    return "--dim " + std::to_string(dim) +
           " --layers 2 --heads 4 --kv-heads 2 --ffn 64 --ctx 32 --batch-size 8 -t 1 "
           "--lr 3e-3 --warmup 4 --eval-tokens 2048 -q ";
}
const std::string kShape = shape();

class TrainCliTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new std::string(temp_dir("train-cli"));
        std::vector<std::string> docs;
        for (uint32_t i = 0; i < 400; ++i) docs.push_back(testing::document(i));
        write_file(*dir_ + "/corpus.txt", testing::txt_corpus(docs));
        CliResult r = run_cli("tokenizer train --input " + *dir_ +
                              "/corpus.txt --vocab-size 320 -o " + *dir_ + "/tok.model");
        ASSERT_EQ(r.code, 0) << r.err;
        r = run_cli("data prepare --input " + *dir_ + "/corpus.txt --tokenizer " + *dir_ +
                    "/tok.model -o " + *dir_ + "/shards --val-every 10");
        ASSERT_EQ(r.code, 0) << r.err;
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        std::filesystem::remove_all(*dir_, ec);
        delete dir_;
    }
    static std::string shards() { return *dir_ + "/shards"; }
    static std::string run_dir(const std::string& name) {
        const std::string d = *dir_ + "/" + name;
        std::filesystem::remove_all(d);
        return d;
    }
    static inline std::string* dir_ = nullptr;
};

TEST_F(TrainCliTest, TrainsExportsAndTheRuntimeRunsTheModel) {
    const std::string run = run_dir("basic"), model = *dir_ + "/basic.gguf";
    const CliResult r = run_cli("train --data " + shards() + " -o " + run + " " + kShape +
                                "--steps 60 --eval-every 30 --log-every 5 --export " + model);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("trained 60 steps"), std::string::npos) << r.out;
    const auto losses = train_losses(run);
    ASSERT_EQ(losses.size(), 12u);
    EXPECT_LT(losses.rbegin()->second, losses.begin()->second - 1.0)
        << "training did not lower the loss";
    EXPECT_TRUE(std::filesystem::exists(run + "/checkpoint.pt"));
    const std::string svg = read_file(run + "/loss.svg");
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);

    // The exported model carries the tokenizer and runs in the runtime; `edgelm export`
    // of the checkpoint gives the same tensors.
    auto m = Model::load(model);
    EXPECT_EQ(m->config().vocab, 320);
    EXPECT_EQ(m->tokenizer().decode(m->tokenizer().encode("the small model runs", false)),
              "the small model runs");
    const std::string again = *dir_ + "/again.gguf";
    ASSERT_EQ(run_cli("export " + run + "/checkpoint.pt -o " + again).code, 0);
    EXPECT_EQ(read_file(model), read_file(again));
    const CliResult q =
        run_cli("export " + run + "/checkpoint.pt -o " + *dir_ + "/q.gguf --type q8_0");
    ASSERT_EQ(q.code, 0) << q.err;
    const CliResult ppl =
        run_cli("perplexity " + *dir_ + "/q.gguf -f " + *dir_ + "/corpus.txt --json");
    ASSERT_EQ(ppl.code, 0) << ppl.err;
    EXPECT_LT(nlohmann::json::parse(ppl.out)["perplexity"].get<double>(), 100.0);
}

TEST_F(TrainCliTest, ResumeAfterKillGivesTheSameLossCurve) {
    const std::string args = "--data " + shards() + " " + kShape +
                             "--steps 40 --checkpoint-every 8 --log-every 1 --eval-every 0";
    const std::string straight = run_dir("straight");
    ASSERT_EQ(run_cli("train " + args + " -o " + straight).code, 0);

    // Start the same run, kill it (SIGKILL: no chance to save) once it passed step 20, and
    // start it again: it resumes from the step-16 checkpoint.
    const std::string killed = run_dir("killed");
    const pid_t pid = fork();
    if (pid == 0) {
        const std::string cmd = std::string("exec ") + EDGELM_BIN + " train " + args + " -o " +
                                killed + " >/dev/null 2>&1";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool passed = false;
    while (!passed && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (std::filesystem::exists(killed + "/metrics.jsonl")) {
            const auto l = train_losses(killed);
            passed = !l.empty() && l.rbegin()->first >= 21;
        }
    }
    ASSERT_TRUE(passed) << "the run never reached step 21";
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    const auto before = train_losses(killed);
    ASSERT_LT(before.rbegin()->first, 40) << "the run finished before it was killed";

    const CliResult resumed = run_cli("train " + args + " -o " + killed);
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    const auto a = train_losses(straight), b = train_losses(killed);
    ASSERT_EQ(a.size(), 40u);
    ASSERT_EQ(b.size(), 40u);
    for (const auto& [step, loss] : a) EXPECT_EQ(b.at(step), loss) << "step " << step;
}

TEST_F(TrainCliTest, TwoDataParallelProcessesMatchOneProcess) {
    const std::string common = "--data " + shards() + " " + kShape + "--steps 6 --eval-every 0 ";
    const std::string one = run_dir("dp1"), two = run_dir("dp2");
    CliResult r =
        run_cli("train " + common + "--grad-accum 2 -o " + one + " --export " + one + ".gguf");
    ASSERT_EQ(r.code, 0) << r.err;
    const int port = 20000 + static_cast<int>(getpid() % 20000);
    r = run_cli("train " + common + "--nproc-per-node 2 --master-port " + std::to_string(port) +
                " -o " + two + " --export " + two + ".gguf");
    ASSERT_EQ(r.code, 0) << r.err;
    const GgufFile a(one + ".gguf"), b(two + ".gguf");
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    double worst = 0;
    for (const GgufTensor& t : a.tensors()) {
        const GgufTensor& u = b.tensor(t.name);
        const auto* x = reinterpret_cast<const float*>(t.data);
        const auto* y = reinterpret_cast<const float*>(u.data);
        for (int64_t i = 0; i < t.n_elements; ++i)
            worst = std::max(worst, static_cast<double>(std::fabs(x[i] - y[i])));
    }
    EXPECT_LT(worst, 1e-5) << "largest weight difference after 6 steps";
    EXPECT_TRUE(std::filesystem::exists(two + "/checkpoint.pt"));
}

TEST_F(TrainCliTest, DryRunPrintsThePlan) {
    const CliResult r = run_cli("train --preset mcu --vocab 4096 --dry-run --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GT(j["params"].get<double>(), 1e6);
    EXPECT_LT(j["bytes"]["q4_0"].get<double>(), 5e6);
    EXPECT_GT(j["flops_per_token"].get<double>(), 0);
}

TEST_F(TrainCliTest, WallClockBudgetStopsEvaluatesAndExports) {
    const std::string run = run_dir("budget"), model = *dir_ + "/budget.gguf";
    const CliResult r = run_cli("train --data " + shards() + " -o " + run + " " + kShape +
                                "--steps 1000000 --max-minutes 0.02 --export " + model);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(model));
    EXPECT_NE(r.out.find("val loss"), std::string::npos) << r.out;
}

double perplexity_of(const std::string& model, const std::string& text_file,
                     const std::string& extra = "") {
    const CliResult r = run_cli("perplexity " + model + " -f " + text_file + " --json" + extra);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out)["perplexity"].get<double>() : 0.0;
}

TEST_F(TrainCliTest, InitFromAGgufStartsFromItsWeights) {
    // A run started from a trained model with a learning rate too small to move anything
    // exports the same model: the weights were loaded, not drawn at random.
    const std::string a = *dir_ + "/init-a.gguf", b = *dir_ + "/init-b.gguf";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("init-a") + " " + kShape +
                      "--steps 30 --export " + a)
                  .code,
              0);
    const std::string flags = " --batch-size 8 -t 1 --warmup 0 --eval-tokens 2048 -q ";
    const CliResult r = run_cli("train --data " + shards() + " -o " + run_dir("init-b") +
                                " --init-from " + a + flags + "--steps 1 --lr 1e-12 --export " + b);
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string text = *dir_ + "/corpus.txt";
    const double ppl_a = perplexity_of(a, text), ppl_b = perplexity_of(b, text);
    EXPECT_NEAR(ppl_b, ppl_a, 1e-4 * ppl_a);
    const std::string random = *dir_ + "/init-random.gguf";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("init-r") + " " + kShape +
                      "--steps 1 --export " + random)
                  .code,
              0);
    EXPECT_GT(perplexity_of(random, text), 1.5 * ppl_a);  // 30 steps did learn something

    expect_one_error_line(run_cli("train --data " + shards() + " -o " + run_dir("init-c") +
                                  " --init-from " + a + " --dim 48 --steps 1"),
                          "--init-from");
    const std::string other = *dir_ + "/other-vocab.gguf";
    ASSERT_EQ(run_cli("init --dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 64 --vocab 300 "
                      "--ctx 32 -o " +
                      other)
                  .code,
              0);
    expect_one_error_line(run_cli("train --data " + shards() + " -o " + run_dir("init-d") +
                                  " --init-from " + other + " --steps 1"),
                          "vocabulary");
}

TEST_F(TrainCliTest, PruneRecoverWinsBackWhatPruningCost) {
    const std::string base = *dir_ + "/prune-base.gguf";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("prune-base") + " " + kShape +
                      "--steps 60 --export " + base)
                  .code,
              0);
    const std::string pruned = *dir_ + "/pruned.gguf", recovered = *dir_ + "/recovered.gguf";
    CliResult r = run_cli("prune " + base + " " + pruned + " --structured ffn --amount 0.5");
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_cli("prune " + base + " " + recovered +
                " --structured ffn --amount 0.5 --recover 40 "
                "--recover-lr 2e-3 -t 1 --data " +
                shards());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("pruned and recovered"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(recovered + ".pruned.gguf"));
    EXPECT_EQ(Model::load(recovered)->config().ffn_dim, 32);
    const std::string text = *dir_ + "/corpus.txt";
    const double ppl_base = perplexity_of(base, text), ppl_pruned = perplexity_of(pruned, text),
                 ppl_recovered = perplexity_of(recovered, text);
    EXPECT_GT(ppl_pruned, ppl_base);
    EXPECT_LT(ppl_recovered, ppl_pruned);
    expect_one_error_line(run_cli("prune " + base + " " + *dir_ +
                                  "/x.gguf --structured ffn --amount 0.5 --recover 5"),
                          "--data");
}

TEST_F(TrainCliTest, UnstructuredPruningSurvivesRecovery) {
    const std::string base = *dir_ + "/sparse-base.gguf", out = *dir_ + "/sparse.gguf";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("sparse-base") + " " + kShape +
                      "--steps 20 --export " + base)
                  .code,
              0);
    const CliResult r =
        run_cli("prune " + base + " " + out + " --sparsity 0.5 --recover 10 --data " + shards() +
                " --recover-lr 2e-3 -t 1");
    ASSERT_EQ(r.code, 0) << r.err;
    // However the matrices are stored (sparse, or expanded at load), the zeros are there.
    const auto model = Model::load(out);
    EXPECT_TRUE(model->file().find(std::string(keys::kSparsePrefix) + "blk.0.ffn_up.weight"));
    int64_t zeros = 0, n = 0;
    for (const LayerWeights& lw : model->weights().layers)
        for (const WeightMatrix* w :
             {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down}) {
            std::vector<float> row(static_cast<size_t>(w->cols));
            for (int64_t i = 0; i < w->rows; ++i) {
                matrix_row(row.data(), *w, i);
                for (float x : row) zeros += x == 0.0f;
                n += w->cols;
            }
        }
    EXPECT_GE(double(zeros) / n, 0.5);  // the recovery kept them (--keep-pruned)
    expect_one_error_line(run_cli("prune " + base + " " + *dir_ + "/x.gguf --sparsity 1.5"),
                          "sparsity");
    expect_one_error_line(run_cli("prune " + base + " " + *dir_ + "/x.gguf"), "--sparsity");
}

TEST_F(TrainCliTest, DistillTrainsAStudentFromATeacher) {
    const std::string teacher = *dir_ + "/teacher.gguf", student = *dir_ + "/student.gguf";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("teacher") + " " + kShape +
                      "--steps 20 --export " + teacher)
                  .code,
              0);
    // A narrower, shallower student: the shapes need not match, the tokenizer must.
    const CliResult r = run_cli("distill --teacher " + teacher + " --data " + shards() + " -o " +
                                run_dir("student") +
                                " --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --ctx 32 "
                                "--steps 10 --temperature 2 --alpha 0.7 --eval-every 0 -q "
                                "--export " +
                                student);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto m = Model::load(student);
    EXPECT_EQ(m->config().dim, 32);
    // With hidden-state matching through a projection between the widths.
    const CliResult h = run_cli("distill --teacher " + teacher + " --data " + shards() + " -o " +
                                run_dir("student-hidden") +
                                " --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --ctx 32 "
                                "--steps 3 --hidden-loss 0.5 --eval-every 0 -q");
    EXPECT_EQ(h.code, 0) << h.err;
    // A teacher cache: the second run reads every batch back and trains the same student.
    const std::string cache = *dir_ + "/teacher.cache";
    const std::string cached_args =
        " --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 "
        "--ctx 32 --steps 4 --eval-every 0 --teacher-top-k 8 "
        "--teacher-cache " +
        cache;
    std::string exported[2];
    for (int run = 0; run < 2; ++run) {
        exported[run] = *dir_ + "/cached-" + std::to_string(run) + ".gguf";
        const CliResult c = run_cli("distill --teacher " + teacher + " --data " + shards() +
                                    " -o " + run_dir("cached-" + std::to_string(run)) +
                                    cached_args + " --export " + exported[run]);
        ASSERT_EQ(c.code, 0) << c.err;
        EXPECT_NE(
            c.err.find(run == 0 ? "0 batches read, 4 computed" : "4 batches read, 0 computed"),
            std::string::npos)
            << c.err;
    }
    EXPECT_EQ(read_file(exported[0]), read_file(exported[1]));
    std::string other_k = cached_args;
    other_k.replace(other_k.find("--teacher-top-k 8"), 17, "--teacher-top-k 4");
    expect_one_error_line(run_cli("distill --teacher " + teacher + " --data " + shards() + " -o " +
                                  run_dir("cached-x") + other_k),
                          "another teacher, top-k");
    // A teacher with another vocabulary, or a shorter context, is refused.
    const std::string other = *dir_ + "/other-vocab.gguf";
    ASSERT_EQ(run_cli("init --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --vocab 300 "
                      "--ctx 64 -o " +
                      other)
                  .code,
              0);
    expect_one_error_line(
        run_cli("distill --teacher " + other + " --data " + shards() + " -o " + run_dir("x") +
                " --dim 32 --layers 1 --heads 2 --kv-heads 1 "
                "--ffn 64 --ctx 32 --steps 2"),
        "vocabulary");
    expect_one_error_line(
        run_cli("distill --teacher " + teacher + " --data " + shards() + " -o " + run_dir("x") +
                " --dim 32 --layers 1 --heads 2 --kv-heads 1 "
                "--ffn 64 --ctx 4096 --steps 2"),
        "context");
    expect_one_error_line(run_cli("distill --data " + shards() + " -o " + run_dir("x")),
                          "--teacher");
}

TEST_F(TrainCliTest, FinetuneTrainsALoraAdapterThatLowersPerplexity) {
    const std::string base = *dir_ + "/lora-base.gguf", adapter = *dir_ + "/adapter.gguf",
                      merged = *dir_ + "/lora-merged.gguf", text = *dir_ + "/corpus.txt";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("lora-base") + " " + kShape +
                      "--steps 10 --export " + base)
                  .code,
              0);
    const CliResult r =
        run_cli("finetune --base " + base + " --data " + shards() + " -o " + run_dir("lora") +
                " --lora r=4,alpha=8,targets=q,k,v,o,gate,up,down --steps 40 --lr 1e-2 "
                "--warmup 0 --eval-every 0 -q --export " +
                adapter);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("adapter: " + adapter + " ("), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("% of the base's"), std::string::npos) << r.out;
    const ModelConfig config = Model::load(base)->config();
    const auto a = LoraAdapter::load(adapter, config);
    EXPECT_EQ(a->rank(), 4);
    EXPECT_EQ(a->matrices().size(), 7u * static_cast<size_t>(config.blocks()));
    // The base stayed frozen: the adapter is all that changed, and it helps on its data.
    const double ppl_base = perplexity_of(base, text);
    const double ppl_adapted = perplexity_of(base, text, " --lora " + adapter);
    EXPECT_LT(ppl_adapted, 0.98 * ppl_base);
    const CliResult bench =
        run_cli("bench " + base + " -p 4 -n 4 -r 1 -t 1 --json --lora " + adapter + ":0.5");
    ASSERT_EQ(bench.code, 0) << bench.err;
    EXPECT_EQ(nlohmann::json::parse(bench.out)["lora"][0], adapter + ":0.5");
    ASSERT_EQ(run_cli("merge-lora " + base + " -o " + merged + " --lora " + adapter).code, 0);
    EXPECT_NEAR(perplexity_of(merged, text), ppl_adapted, 1e-3 * ppl_adapted);
    EXPECT_NEAR(perplexity_of(base, text, " --lora " + adapter + ":0"), ppl_base, 1e-6 * ppl_base);
    // --qat with LoRA: the adapter is trained on the base as Q4_0 rounds it, and lowers the
    // perplexity of that quantized base.
    const std::string base_q4 = *dir_ + "/lora-base-q4_0.gguf", adapter_q4 = *dir_ + "/ad-q4.gguf";
    ASSERT_EQ(run_cli("quantize " + base + " " + base_q4 + " --type q4_0").code, 0);
    const CliResult q =
        run_cli("finetune --base " + base + " --data " + shards() + " -o " + run_dir("lora-qat") +
                " --lora r=4,alpha=8,targets=q,v,up,down --qat q4_0 --steps 40 "
                "--lr 1e-2 --warmup 0 --eval-every 0 -q --export " +
                adapter_q4);
    ASSERT_EQ(q.code, 0) << q.err;
    EXPECT_LT(perplexity_of(base_q4, text, " --lora " + adapter_q4),
              0.98 * perplexity_of(base_q4, text));
    expect_one_error_line(run_cli("finetune --base " + base + " --data " + shards() + " -o " +
                                  run_dir("x") + " --lora r=4,targets=q,z"),
                          "unknown target 'z'");
    expect_one_error_line(run_cli("run " + base + " -p hi --lora " + base), "not a LoRA adapter");
}

TEST_F(TrainCliTest, CompressRunsTheStagesAndTheReportRendersInChromium) {
    const std::string base = *dir_ + "/compress-base.gguf";
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run_dir("compress-base") + " " +
                      kShape + "--steps 40 --export " + base)
                  .code,
              0);
    const std::string out = *dir_ + "/compressed.gguf", json = *dir_ + "/compress.json",
                      html = *dir_ + "/compress.html", text = *dir_ + "/corpus.txt";
    const CliResult r =
        run_cli("compress " + base + " -o " + out +
                " --stages prune:ffn:0.5,recover:20,quantize:q8_0 --eval " + text +
                " --calibration " + text + " --data " + shards() + " --teacher " + base +
                " --recover-lr 2e-3 -t 1 --json " + json + " --report " + html);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(read_file(json));
    const auto& stages = j["stages"];
    ASSERT_EQ(stages.size(), 4u);
    EXPECT_EQ(stages[0]["stage"], "input");
    EXPECT_NEAR(stages[0]["ratio_to_f32"].get<double>(), 1.0, 0.05);  // f32 input
    EXPECT_EQ(stages[0]["mean_kl"].get<double>(), 0.0);
    EXPECT_LT(stages[1]["size_bytes"].get<uint64_t>(), stages[0]["size_bytes"].get<uint64_t>());
    EXPECT_GT(stages[1]["mean_kl"].get<double>(), 0.0);
    EXPECT_LT(stages[2]["perplexity"].get<double>(), stages[1]["perplexity"].get<double>());
    EXPECT_GT(stages[1]["ratio_to_f32"].get<double>(), 1.0);
    EXPECT_GT(stages[3]["ratio_to_f32"].get<double>(),
              2.0 * stages[1]["ratio_to_f32"].get<double>());
    for (const auto& s : stages) {
        EXPECT_GT(s["decode_tok_s"].get<double>(), 0.0);
        EXPECT_GT(s["peak_rss_bytes"].get<uint64_t>(), 0u);
    }
    EXPECT_EQ(read_file(out), read_file(stages[3]["file"].get<std::string>()));

    // The page draws its table and chart from the embedded JSON: render it headless and
    // read the DOM the script built (chromium comes with `make setup`).
    ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")) << "install chromium (make setup)";
    const std::string dom_path = *dir_ + "/compress-dom.html";
    const std::string cmd =
        "/usr/bin/chromium --headless --no-sandbox --disable-gpu "
        "--user-data-dir=" +
        *dir_ + "/chromium --dump-dom file://" + html + " > " + dom_path + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const std::string dom = read_file(dom_path);
    EXPECT_NE(dom.find("data-rendered=\"4\""), std::string::npos) << dom.substr(0, 2000);
    size_t circles = 0;
    for (size_t p = 0; (p = dom.find("class=\"stage\"", p)) != std::string::npos; ++p) ++circles;
    EXPECT_EQ(circles, 4u);
    EXPECT_NE(dom.find("<td>recover:20</td>"), std::string::npos);
}

TEST_F(TrainCliTest, BadInputGivesOneErrorLine) {
    expect_one_error_line(run_cli("train -o " + run_dir("x") + " " + kShape), "--data");
    expect_one_error_line(run_cli("train --data /nonexistent/shards -o " + run_dir("x")),
                          "/nonexistent/shards");
    expect_one_error_line(
        run_cli("train --data " + shards() + " -o " + run_dir("x") + " --mixture nowhere:1"),
        "nowhere");
    expect_one_error_line(run_cli("train --data " + shards() + " -o " + run_dir("x") + " " +
                                  kShape + " --batch-size 7 --grad-accum 2"),
                          "--batch-size");
    expect_one_error_line(run_cli("train --data " + shards() + " -o " + run_dir("x") + " " +
                                  kShape + " --grad-accum 0"),
                          "--grad-accum");
    expect_one_error_line(run_cli("train --data " + shards() + " -o " + run_dir("x") + " " +
                                  kShape + " --log-every 0"),
                          "--log-every");
    // Resuming with another shape is refused, the checkpoint left as it was.
    const std::string run = run_dir("shape");
    ASSERT_EQ(run_cli("train --data " + shards() + " -o " + run + " " + kShape + "--steps 2").code,
              0);
    const std::string before = read_file(run + "/checkpoint.pt");
    expect_one_error_line(
        run_cli("train --data " + shards() + " -o " + run + " " + shape(48) + "--steps 4"),
        "another shape");
    EXPECT_EQ(read_file(run + "/checkpoint.pt"), before);
    expect_one_error_line(run_cli("export " + *dir_ + "/corpus.txt -o " + *dir_ + "/y.gguf"),
                          "corpus.txt");
}

// finetune --task classify, then eval --task classify and classify, as a user runs them.
TEST(ClassifyCli, FinetuneEvalAndClassify) {
    const std::string d = temp_dir("classify-cli");
    ASSERT_EQ(run_cli("init --dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 64 --vocab 300 "
                      "--ctx 64 -o " +
                      d + "/base.gguf")
                  .code,
              0);
    const auto jsonl = [](int n, int seed) {
        std::string out;
        for (int i = 0; i < n; ++i) {
            const bool a = (i + seed) % 2 == 0;
            out += std::string("{\"text\": \"") +
                   (a ? "cheap pills win money now " : "meeting notes for the agenda ") +
                   std::to_string(i) + "\", \"label\": \"" + (a ? "spam" : "ham") + "\"}\n";
        }
        return out;
    };
    write_file(d + "/train.jsonl", jsonl(64, 0));
    write_file(d + "/test.jsonl", jsonl(20, 1));
    CliResult r = run_cli("finetune --task classify --base " + d + "/base.gguf --data " + d +
                          "/train.jsonl --labels ham,spam --max-tokens 32 --epochs 4 --lr 3e-3 "
                          "--warmup 4 --batch-size 8 --precision fp32 -t 2 --export " +
                          d + "/cls.gguf");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("val accuracy"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("epoch 4 | val loss"), std::string::npos) << r.err;

    r = run_cli("eval --task classify " + d + "/cls.gguf --data " + d + "/test.jsonl --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GE(j["accuracy"].get<double>(), 0.9);
    EXPECT_GE(j["macro_f1"].get<double>(), 0.9);
    EXPECT_TRUE(j["f1"].contains("spam") && j["f1"].contains("ham")) << r.out;
    EXPECT_EQ(j["examples"], 20);

    r = run_cli("classify " + d + "/cls.gguf --jsonl " + d + "/test.jsonl --json");
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream lines(r.out);
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
        const auto p = nlohmann::json::parse(line);
        EXPECT_TRUE(p["label"] == "ham" || p["label"] == "spam") << line;
        EXPECT_NEAR(p["probs"]["ham"].get<double>() + p["probs"]["spam"].get<double>(), 1, 1e-5);
    }
    EXPECT_EQ(n, 20);

    r = run_cli("eval --task classify --baseline naive-bayes --train " + d +
                "/train.jsonl --data " + d + "/test.jsonl --json");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out)["accuracy"].get<double>(), 1.0);

    // A raw message: the same text `data emails` would write, so the same prediction.
    write_file(d + "/msg.eml", "From: a@b.c\nSubject: cheap pills win money now 3\n\nhi\n");
    const CliResult raw =
        run_cli("classify " + d + "/cls.gguf --email -f " + d + "/msg.eml --json");
    ASSERT_EQ(raw.code, 0) << raw.err;
    write_file(d + "/msg.txt", "From: a@b.c\nSubject: cheap pills win money now 3\n\nhi");
    EXPECT_EQ(raw.out, run_cli("classify " + d + "/cls.gguf -f " + d + "/msg.txt --json").out);
    expect_one_error_line(run_cli("classify " + d + "/cls.gguf --email 'x'"), "--email");
    expect_one_error_line(run_cli("classify " + d + "/base.gguf 'hello'"),
                          "no classification head");
    expect_one_error_line(run_cli("finetune --task classify --base " + d + "/base.gguf --data " +
                                  d + "/test.jsonl --labels ham"),
                          "at least two labels");
    std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace edgelm
