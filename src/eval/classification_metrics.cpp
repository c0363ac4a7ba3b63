#include "eval/classification_metrics.h"

#include "core/error.h"

namespace edgelm {

ClassificationMetrics classification_metrics(const std::vector<std::string>& labels,
                                             const std::vector<int>& truth,
                                             const std::vector<int>& predicted) {
    if (truth.size() != predicted.size() || truth.empty())
        throw ArgumentError("classification_metrics: need as many predictions as texts (> 0)");
    const size_t k = labels.size();
    ClassificationMetrics m;
    m.labels = labels;
    m.confusion.assign(k, std::vector<int64_t>(k, 0));
    m.examples = static_cast<int64_t>(truth.size());
    int64_t correct = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
        if (truth[i] < 0 || static_cast<size_t>(truth[i]) >= k || predicted[i] < 0 ||
            static_cast<size_t>(predicted[i]) >= k)
            throw ArgumentError("classification_metrics: a label index is out of range");
        ++m.confusion[static_cast<size_t>(truth[i])][static_cast<size_t>(predicted[i])];
        correct += truth[i] == predicted[i];
    }
    m.accuracy = static_cast<double>(correct) / static_cast<double>(m.examples);
    for (size_t c = 0; c < k; ++c) {
        int64_t tp = m.confusion[c][c], predicted_c = 0, actual_c = 0;
        for (size_t o = 0; o < k; ++o) {
            predicted_c += m.confusion[o][c];
            actual_c += m.confusion[c][o];
        }
        const double p =
            predicted_c ? static_cast<double>(tp) / static_cast<double>(predicted_c) : 0;
        const double r = actual_c ? static_cast<double>(tp) / static_cast<double>(actual_c) : 0;
        m.precision.push_back(p);
        m.recall.push_back(r);
        m.f1.push_back(p + r > 0 ? 2 * p * r / (p + r) : 0);
        m.support.push_back(actual_c);
        m.macro_f1 += m.f1.back() / static_cast<double>(k);
    }
    return m;
}

}  // namespace edgelm
