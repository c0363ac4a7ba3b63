// A classification head in the runtime (runtime/sequence_classifier.h): stored in the GGUF,
// loaded (also quantized), and applied to the mean of the final normed hidden states, as
// a reference computed here from the session's observed output-norm rows.
#include "runtime/sequence_classifier.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

ClassifierHeadSource random_head(int dim, int labels, int max_tokens, uint32_t seed) {
    ClassifierHeadSource h;
    for (int i = 0; i < labels; ++i) h.labels.push_back("label" + std::to_string(i));
    h.max_tokens = max_tokens;
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.5f);
    h.weight.resize(static_cast<size_t>(labels * dim));
    for (float& v : h.weight) v = d(rng);
    for (int i = 0; i < labels; ++i) h.bias.push_back(d(rng));
    return h;
}

// Softmax(W · mean(normed final states) + b) from a plain eval of the same tokens.
std::vector<double> reference_probs(const std::shared_ptr<const Model>& model,
                                    const ClassifierHeadSource& h,
                                    const std::vector<TokenId>& tokens) {
    const int dim = model->config().dim;
    std::vector<double> pooled(static_cast<size_t>(dim), 0.0);
    Session s(model, {0, 1, {}, {}});
    s.set_activation_observer(
        [&](int layer, ActivationSite site, const float* rows, int n, int64_t cols) {
            if (site != ActivationSite::OutputInput) return;
            for (int t = 0; t < n; ++t)
                for (int64_t i = 0; i < cols; ++i)
                    pooled[static_cast<size_t>(i)] += rows[t * cols + i];
        });
    s.eval(tokens, true);
    std::vector<double> logits;
    for (size_t c = 0; c < h.labels.size(); ++c) {
        double z = h.bias[c];
        for (int i = 0; i < dim; ++i)
            z += static_cast<double>(
                     h.weight[c * static_cast<size_t>(dim) + static_cast<size_t>(i)]) *
                 pooled[static_cast<size_t>(i)] / static_cast<double>(tokens.size());
        logits.push_back(z);
    }
    const double top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double& z : logits) sum += z = std::exp(z - top);
    for (double& z : logits) z /= sum;
    return logits;
}

TEST(SequenceClassifier, HeadOnMeanPooledStatesMatchesTheReference) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 128, 300, 160, true), DType::F32, "cls.gguf");
    const ClassifierHeadSource head = random_head(64, 3, 150, 5);
    testing::write_test_model(m, DType::F32, "cls", &head);
    const auto model = Model::load(m.path);
    ASSERT_TRUE(model->weights().classifier);
    EXPECT_EQ(model->weights().classifier->labels, head.labels);
    EXPECT_EQ(model->weights().classifier->max_tokens, 150);

    SequenceClassifier c(model, 2);
    // Short, and longer than one prompt batch (64 tokens) and than max_tokens: cut to 150.
    for (const std::string& text :
         {std::string("the model reads"), testing::random_words_text(3)}) {
        const std::vector<TokenId> tokens = classifier_tokens(model->tokenizer(), text, 150);
        const ClassPrediction p = c.classify(text);
        EXPECT_EQ(p.tokens, static_cast<int>(tokens.size()));
        const std::vector<double> want = reference_probs(model, head, tokens);
        double sum = 0;
        for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_NEAR(p.probs[i], want[i], 1e-5) << text.size() << " label " << i;
            sum += p.probs[i];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
        EXPECT_EQ(p.label, std::max_element(want.begin(), want.end()) - want.begin());
    }
    EXPECT_EQ(classifier_tokens(model->tokenizer(), testing::random_words_text(3), 150).size(),
              150u);
}

TEST(SequenceClassifier, AQuantizedHeadRunsAndAgrees) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 128, 300, 64, true), DType::F32, "clsq.gguf");
    const ClassifierHeadSource head = random_head(64, 2, 64, 9);
    testing::write_test_model(m, DType::Q8_0, "clsq", &head);
    const auto model = Model::load(m.path);
    EXPECT_EQ(model->weights().classifier->weight.traits->type, DType::Q8_0);
    SequenceClassifier c(model, 1);
    const std::string text = "every line of text and small devices";
    const std::vector<double> want =
        reference_probs(model, head, classifier_tokens(model->tokenizer(), text, 64));
    const ClassPrediction p = c.classify(text);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(p.probs[i], want[i], 0.02);
}

TEST(SequenceClassifier, ModelsWithoutOrWithABrokenHeadAreRefused) {
    auto m =
        make_test_model(tiny_config(32, 1, 4, 2, 64, 300, 32, true), DType::F32, "nohead.gguf");
    EXPECT_THROW(SequenceClassifier(Model::load(m.path), 1), ArgumentError);

    // Three labels named, two rows stored.
    ClassifierHeadSource head = random_head(32, 2, 32, 1);
    testing::write_test_model(m, DType::F32, "badhead", &head);
    GgufFile f(m.path);
    GgufWriter w;
    for (const auto& [k, v] : f.metadata()) w.set(k, v);
    w.set(keys::kClassifierLabels, GgufValue::string_array({"a", "b", "c"}));
    for (const GgufTensor& t : f.tensors()) w.add_tensor(t.name, t.type, t.dims, t.data, t.bytes);
    const std::string bad = temp_path("badhead2.gguf");
    w.write(bad);
    EXPECT_THROW(Model::load(bad), FormatError);
}

}  // namespace
}  // namespace edgelm
