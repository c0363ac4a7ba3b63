#include "eval/naive_bayes.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgelm {

std::vector<std::string> count_vectorizer_words(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    const auto flush = [&] {
        if (word.size() >= 2) words.push_back(word);
        word.clear();
    };
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80)
            word += static_cast<char>(c);
        else if (c >= 'A' && c <= 'Z')
            word += static_cast<char>(c - 'A' + 'a');
        else
            flush();
    }
    flush();
    return words;
}

NaiveBayesClassifier::NaiveBayesClassifier(const std::vector<std::string>& texts,
                                           const std::vector<int>& labels, int n_labels,
                                           double alpha)
    : n_labels_(n_labels) {
    if (texts.size() != labels.size() || texts.empty() || n_labels < 2 || !(alpha > 0))
        throw ArgumentError("naive Bayes: need labelled texts, two or more labels, alpha > 0");
    std::vector<std::vector<double>> counts(static_cast<size_t>(n_labels));
    std::vector<double> docs(static_cast<size_t>(n_labels), 0);
    for (size_t i = 0; i < texts.size(); ++i) {
        const auto c = static_cast<size_t>(labels[i]);
        if (labels[i] < 0 || labels[i] >= n_labels)
            throw ArgumentError("naive Bayes: a label index is out of range");
        docs[c] += 1;
        for (const std::string& w : count_vectorizer_words(texts[i])) {
            const size_t id = word_index_.emplace(w, word_index_.size()).first->second;
            if (counts[c].size() <= id) counts[c].resize(id + 1, 0.0);
            counts[c][id] += 1;
        }
    }
    const size_t V = word_index_.size();
    for (size_t c = 0; c < counts.size(); ++c) {
        counts[c].resize(V, 0.0);
        double total = 0;
        for (double v : counts[c]) total += v;
        std::vector<double> ll(V);
        for (size_t w = 0; w < V; ++w)
            ll[w] = std::log((counts[c][w] + alpha) / (total + alpha * static_cast<double>(V)));
        log_likelihood_.push_back(std::move(ll));
        log_prior_.push_back(std::log(docs[c] / static_cast<double>(texts.size())));
    }
}

std::vector<double> NaiveBayesClassifier::log_scores(std::string_view text) const {
    std::vector<double> s = log_prior_;
    for (const std::string& w : count_vectorizer_words(text)) {
        const auto it = word_index_.find(w);
        if (it == word_index_.end()) continue;
        for (size_t c = 0; c < s.size(); ++c) s[c] += log_likelihood_[c][it->second];
    }
    return s;
}

int NaiveBayesClassifier::predict(std::string_view text) const {
    const std::vector<double> s = log_scores(text);
    return static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin());
}

}  // namespace edgelm
