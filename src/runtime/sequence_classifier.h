// Sequence classification with a model's head (`edgelm classify`, `edgelm eval --task
// classify`): the text is tokenized (BOS first, as in training), cut to the head's
// max_tokens, run through the decoder without computing next-token logits, and the mean
// of the final normed hidden states goes through the head (ClassifierWeights) and a softmax.
// Training does exactly the same in src/train/classifier_training.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/session.h"

namespace edgelm {

struct ClassPrediction {
    int label = 0;             // index into labels(), the most probable
    std::vector<float> probs;  // per label
    int tokens = 0;            // tokens the model read (after cutting)
};

class SequenceClassifier {
  public:
    // Throws ArgumentError if the model has no classification head.
    SequenceClassifier(std::shared_ptr<const Model> model, int n_threads);

    ClassPrediction classify(std::string_view text);
    const std::vector<std::string>& labels() const { return head_->labels; }

  private:
    std::shared_ptr<const Model> model_;
    const ClassifierWeights* head_;
    Session session_;
};

// The tokens a classifier reads for a text: BOS, then the text's tokens, cut to max_tokens.
// Only the first 16 bytes per token of the text are encoded (enough for any vocabulary
// edgelm trains; a long e-mail is not tokenized whole to keep its first 256 tokens).
// Training and the runtime both call this, so they see the same tokens.
std::vector<TokenId> classifier_tokens(const Tokenizer& tokenizer, std::string_view text,
                                       int max_tokens);

// The head's prediction for a pooled hidden state (dim), as classify makes it (a server
// that pools several texts in one batch calls this on each).
ClassPrediction classify_pooled(const ClassifierWeights& head, std::span<const float> pooled);

// Head logits of a pooled hidden state (dim): weight · pooled + bias, per label.
void classifier_logits(const ClassifierWeights& head, std::span<const float> pooled, float* out);

}  // namespace edgelm
