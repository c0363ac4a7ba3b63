// The classic baseline for text classification: multinomial naive Bayes on word counts
// with Laplace smoothing, words as scikit-learn's CountVectorizer finds them by default
// (runs of two or more letters, digits or underscores, lower-cased; every byte >= 0x80
// counts as a letter, so non-ASCII words stay whole).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edgelm {

// The words of a text, as above.
std::vector<std::string> count_vectorizer_words(std::string_view text);

class NaiveBayesClassifier {
  public:
    // texts[i] has label index labels[i] < n_labels. alpha: additive smoothing.
    NaiveBayesClassifier(const std::vector<std::string>& texts, const std::vector<int>& labels,
                         int n_labels, double alpha = 1.0);

    // log P(label) + sum over words of log P(word | label), per label (unknown words skipped).
    std::vector<double> log_scores(std::string_view text) const;
    int predict(std::string_view text) const;
    size_t vocabulary_size() const { return word_index_.size(); }

  private:
    int n_labels_;
    std::unordered_map<std::string, size_t> word_index_;
    std::vector<double> log_prior_;
    std::vector<std::vector<double>> log_likelihood_;  // [label][word]
};

}  // namespace edgelm
