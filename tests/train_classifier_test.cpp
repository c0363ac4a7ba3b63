// `finetune --task classify` (train/classifier_training.cpp): a head trained on a tiny base
// separates two kinds of text, the exported GGUF classifies them in the runtime, and the
// runtime's probabilities equal libtorch's for the exported weights (the same tokens, mean
// pooling and head). With LoRA, only the adapted matrices change in the export.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <random>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "runtime/model.h"
#include "runtime/sequence_classifier.h"
#include "test_models.h"
#include "train/gguf_import.h"
#include "train/llama_module.h"
#include "train/trainer.h"

namespace edgelm {
namespace {

using testing::temp_path;

// Texts of class "a" draw from one set of words, class "b" from another.
std::vector<std::pair<std::string, std::string>> two_kinds_of_text(int n, uint32_t seed) {
    const char* a[] = {"small", "devices", "run", "fast", "today", "cheap"};
    const char* b[] = {"the", "model", "reads", "every", "line", "notes"};
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < n; ++i) {
        const bool is_a = i % 2 == 0;
        std::string text;
        const int words = 4 + static_cast<int>(rng() % 8);
        for (int w = 0; w < words; ++w)
            text += std::string(w ? " " : "") + (is_a ? a : b)[rng() % 6];
        out.emplace_back(text, is_a ? "a" : "b");
    }
    return out;
}

std::string write_jsonl(const std::vector<std::pair<std::string, std::string>>& rows,
                        const std::string& name) {
    const std::string path = temp_path(name);
    std::ofstream f(path);
    for (const auto& [text, label] : rows)
        f << "{\"text\": \"" << text << "\", \"label\": \"" << label << "\"}\n";
    return path;
}

struct Trained {
    std::string base, model;
    train::ClassifyResult result;
};

Trained train_classifier(const std::string& tag, int64_t lora_rank) {
    Trained t;
    const auto base = testing::make_test_model(testing::tiny_config(32, 2, 4, 2, 64, 300, 64, true),
                                               DType::F32, tag + "-base.gguf", 3, 0.05f);
    t.base = base.path;
    t.model = temp_path(tag + "-cls.gguf");
    train::TrainOptions o;
    o.init_from = base.path;
    o.lr = 3e-3;
    o.warmup_steps = 5;
    o.batch_size = 8;
    o.precision = "fp32";
    o.threads = 2;
    o.quiet = true;
    o.export_path = t.model;
    o.lora_rank = lora_rank;
    o.lora_alpha = 8;
    o.lora_targets = {LoraTarget::Q, LoraTarget::V};
    train::ClassifyTask task;
    task.data = {write_jsonl(two_kinds_of_text(96, 1), tag + "-train.jsonl")};
    task.labels = {"a", "b"};
    task.max_tokens = 48;
    task.epochs = 6;
    task.val_fraction = 0.25;
    t.result = train::run_classifier_training(o, task);
    return t;
}

double runtime_accuracy(const std::string& path) {
    SequenceClassifier c(Model::load(path), 1);
    int correct = 0;
    const auto test = two_kinds_of_text(40, 99);
    for (const auto& [text, label] : test)
        correct += c.labels()[static_cast<size_t>(c.classify(text).label)] == label;
    return static_cast<double>(correct) / static_cast<double>(test.size());
}

TEST(TrainClassifier, LearnsTwoKindsOfTextAndTheRuntimeAgreesWithLibtorch) {
    const Trained t = train_classifier("full", 0);
    EXPECT_EQ(t.result.train_examples, 72);
    EXPECT_EQ(t.result.val_examples, 24);
    EXPECT_GE(t.result.val_accuracy, 0.9);
    EXPECT_GE(runtime_accuracy(t.model), 0.9);

    // libtorch on the exported weights: hidden states, mean, head, softmax.
    const GgufFile f(t.model);
    const ModelConfig config = ModelConfig::from_gguf(f);
    train::LlamaModel m(config, config.blocks());
    train::copy_gguf_weights(f, *m);
    m->eval();
    torch::NoGradGuard no_grad;
    const GgufTensor& w = f.tensor(keys::kClassifierWeight);
    const GgufTensor& b = f.tensor(keys::kClassifierBias);
    const torch::Tensor head_w =
        torch::from_blob(const_cast<uint8_t*>(w.data), {2, config.dim}, torch::kFloat).clone();
    const torch::Tensor head_b =
        torch::from_blob(const_cast<uint8_t*>(b.data), {2}, torch::kFloat).clone();
    const auto model = Model::load(t.model);
    SequenceClassifier c(model, 1);
    for (const auto& [text, label] : two_kinds_of_text(6, 7)) {
        const std::vector<TokenId> ids = classifier_tokens(model->tokenizer(), text, 48);
        std::vector<int64_t> ids64(ids.begin(), ids.end());
        const torch::Tensor tokens = torch::tensor(ids64).unsqueeze(0);
        const torch::Tensor pooled = m->hidden(tokens).mean(1);
        const torch::Tensor probs =
            torch::softmax(torch::matmul(pooled, head_w.t()) + head_b, -1).squeeze(0);
        const ClassPrediction p = c.classify(text);
        for (int64_t i = 0; i < 2; ++i)
            EXPECT_NEAR(p.probs[static_cast<size_t>(i)], probs[i].item<float>(), 1e-4) << text;
    }
}

TEST(TrainClassifier, LoraAdaptersAreMergedIntoTheExport) {
    const Trained t = train_classifier("lora", 4);
    EXPECT_GE(runtime_accuracy(t.model), 0.9);
    const GgufFile base(t.base), tuned(t.model);
    const auto same = [&](const std::string& name) {
        const GgufTensor &x = base.tensor(name), &y = tuned.tensor(name);
        return x.bytes == y.bytes && std::memcmp(x.data, y.data, x.bytes) == 0;
    };
    EXPECT_FALSE(same("blk.0.attn_q.weight"));
    EXPECT_FALSE(same("blk.1.attn_v.weight"));
    EXPECT_TRUE(same("blk.0.attn_k.weight"));
    EXPECT_TRUE(same("blk.1.ffn_up.weight"));
    EXPECT_TRUE(same("token_embd.weight"));
}

TEST(TrainClassifier, BadDataIsRefusedNamingTheLine) {
    const auto base = testing::make_test_model(testing::tiny_config(32, 1, 4, 2, 64, 300, 32, true),
                                               DType::F32, "bad-base.gguf");
    train::TrainOptions o;
    o.init_from = base.path;
    o.quiet = true;
    train::ClassifyTask task;
    task.labels = {"a", "b"};
    task.max_tokens = 16;
    const std::string path = temp_path("bad.jsonl");
    std::ofstream(path)
        << "{\"text\": \"x\", \"label\": \"a\"}\n{\"text\": \"y\", \"label\": \"c\"}\n";
    task.data = {path};
    try {
        train::run_classifier_training(o, task);
        FAIL() << "expected FormatError";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("bad.jsonl:2: label 'c'"), std::string::npos)
            << e.what();
    }
    task.max_tokens = 64;  // beyond the base's context of 32
    EXPECT_THROW(train::run_classifier_training(o, task), ArgumentError);
}

}  // namespace
}  // namespace edgelm
