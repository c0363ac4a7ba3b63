// Scores of a classifier on labelled texts: accuracy, per-label precision, recall and F1,
// macro-F1 (the unweighted mean of the labels' F1) and the confusion matrix, as
// scikit-learn's classification_report defines them (a label never predicted has
// precision 0, and F1 is 0 when precision + recall is 0).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgelm {

struct ClassificationMetrics {
    std::vector<std::string> labels;
    std::vector<std::vector<int64_t>> confusion;  // [true label][predicted label]
    std::vector<double> precision, recall, f1;
    std::vector<int64_t> support;  // texts per true label
    int64_t examples = 0;
    double accuracy = 0, macro_f1 = 0;
};

// truth and predicted hold label indices (< labels.size()), one per text.
ClassificationMetrics classification_metrics(const std::vector<std::string>& labels,
                                             const std::vector<int>& truth,
                                             const std::vector<int>& predicted);

}  // namespace edgelm
