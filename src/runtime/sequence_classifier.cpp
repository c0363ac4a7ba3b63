#include "runtime/sequence_classifier.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgelm {

void classifier_logits(const ClassifierWeights& head, std::span<const float> pooled, float* out) {
    ActivationRows act;
    act.set(pooled.data(), 1, static_cast<int64_t>(pooled.size()),
            static_cast<int64_t>(pooled.size()), head.weight.traits->act_type);
    matmul_rows(head.weight, act, out, head.weight.rows, 0, head.weight.rows);
    for (int64_t i = 0; i < head.weight.rows; ++i) out[i] += head.bias[i];
}

SequenceClassifier::SequenceClassifier(std::shared_ptr<const Model> model, int n_threads)
    : model_(model),
      head_(model->weights().classifier ? &*model->weights().classifier : nullptr),
      session_(model, SessionParams{0, n_threads, {}, {}}) {
    if (!head_)
        throw ArgumentError(model->file().path() +
                            " has no classification head; train one with `edgelm finetune "
                            "--task classify`");
}

std::vector<TokenId> classifier_tokens(const Tokenizer& tokenizer, std::string_view text,
                                       int max_tokens) {
    size_t cut = std::min(text.size(), static_cast<size_t>(max_tokens) * 16);
    while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;  // not inside a UTF-8 sequence
    std::vector<TokenId> tokens = tokenizer.encode(text.substr(0, cut), true);
    if (tokens.empty())  // only for a vocabulary without BOS
        throw ArgumentError("classify: the text is empty and the model has no BOS token");
    if (tokens.size() > static_cast<size_t>(max_tokens))
        tokens.resize(static_cast<size_t>(max_tokens));
    return tokens;
}

ClassPrediction classify_pooled(const ClassifierWeights& head, std::span<const float> pooled) {
    std::vector<float> logits(head.labels.size());
    classifier_logits(head, pooled, logits.data());
    ClassPrediction p;
    p.probs.resize(logits.size());
    const float top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i) sum += p.probs[i] = std::exp(logits[i] - top);
    for (float& v : p.probs) v = static_cast<float>(v / sum);
    p.label = static_cast<int>(std::max_element(p.probs.begin(), p.probs.end()) - p.probs.begin());
    return p;
}

ClassPrediction SequenceClassifier::classify(std::string_view text) {
    const std::vector<TokenId> tokens =
        classifier_tokens(model_->tokenizer(), text, head_->max_tokens);
    session_.reset();
    ClassPrediction p = classify_pooled(*head_, session_.eval_pooled(tokens));
    p.tokens = static_cast<int>(tokens.size());
    return p;
}

}  // namespace edgelm
