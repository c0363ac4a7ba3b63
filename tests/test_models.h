// Tiny models made at test time: a config, float weights kept in memory (for reference
// computations in the tests), and the GGUF file written from them.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/lora_adapter.h"
#include "runtime/model_writer.h"
#include "tokenizer/synthetic_vocabulary.h"

namespace edgelm::testing {

inline std::string temp_path(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / "edgelm-tests";
    std::filesystem::create_directories(dir);
    return (dir / (std::to_string(::getpid()) + "-" + name)).string();
}

// The whole file as bytes (to compare files, or to damage a copy).
inline std::string file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

inline ModelConfig tiny_config(int dim, int layers, int heads, int kv_heads, int ffn, int vocab,
                               int ctx, bool tied) {
    return ModelConfig::llama(dim, layers, heads, kv_heads, ffn, vocab, ctx, tied);
}

struct TestModel {
    ModelConfig config;
    std::map<std::string, std::vector<float>> weights;  // GGUF order: row-major (rows, cols)
    std::string path;
};

// Writes m.weights (as edited by a test) to m.path, stored as `type` (with a
// classification head if given).
inline void write_test_model(const TestModel& m, DType type, const std::string& name,
                             const ClassifierHeadSource* head = nullptr) {
    std::vector<ModelTensorSource> tensors = model_tensor_layout(m.config);
    for (ModelTensorSource& t : tensors) {
        const std::vector<float>* stored = &m.weights.at(t.name);
        t.fill = [stored](float* out) { std::copy(stored->begin(), stored->end(), out); };
    }
    write_model(m.path, m.config, make_synthetic_spm_vocabulary(m.config.vocab), tensors, type,
                name, head);
}

// ~900 words from a 14-word vocabulary in sentences of 12, drawn with `seed`: a text
// long enough to calibrate a test model over several windows of its context.
inline std::string random_words_text(uint32_t seed) {
    std::string text;
    const char* words[] = {"the", "model", "reads",   "every", "line", "of",   "text",
                           "and", "small", "devices", "run",   "it",   "fast", "today"};
    std::mt19937 rng(seed);
    for (int i = 0; i < 900; ++i) {
        text += words[rng() % 14];
        text += i % 12 == 11 ? ".\n" : " ";
    }
    return text;
}

// Writes a model with weights ~ N(0, scale) and norms ~ 1 + N(0, 0.1), stored as `type`.
inline TestModel make_test_model(const ModelConfig& config, DType type, const std::string& name,
                                 uint32_t seed = 7, float scale = 0.08f) {
    TestModel m;
    m.config = config;
    m.path = temp_path(name);
    std::mt19937 rng(seed);
    for (const ModelTensorSource& t : model_tensor_layout(config)) {
        size_t n = 1;
        for (int64_t d : t.dims) n *= static_cast<size_t>(d);
        std::vector<float> v(n);
        std::normal_distribution<float> dist(0.0f, t.dims.size() == 1 ? 0.1f : scale);
        for (float& x : v) x = (t.dims.size() == 1 ? 1.0f : 0.0f) + dist(rng);
        m.weights[t.name] = v;
    }
    write_test_model(m, type, name);
    return m;
}

// LoRA matrices of `rank` with entries ~ N(0, sd) for `targets` of every block, drawn in
// block, target, A-then-B order from `seed`.
inline std::map<std::pair<int, LoraTarget>, LoraMatrix> random_lora(
    const ModelConfig& c, int rank, uint32_t seed, const std::vector<LoraTarget>& targets,
    float sd = 0.1f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0, sd);
    std::map<std::pair<int, LoraTarget>, LoraMatrix> out;
    for (int b = 0; b < c.blocks(); ++b)
        for (LoraTarget t : targets) {
            LoraMatrix m;
            std::tie(m.rows, m.cols) = lora_target_shape(c, t);
            m.rank = rank;
            m.a.resize(static_cast<size_t>(rank * m.cols));
            m.b.resize(static_cast<size_t>(m.rows * rank));
            for (float& x : m.a) x = d(rng);
            for (float& x : m.b) x = d(rng);
            out[{b, t}] = m;
        }
    return out;
}

}  // namespace edgelm::testing
