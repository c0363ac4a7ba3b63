// Classifier scores (eval/classification_metrics.h) and the naive Bayes baseline
// (eval/naive_bayes.h), against values worked out by hand.
#include "eval/classification_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/naive_bayes.h"

namespace edgelm {
namespace {

TEST(ClassificationMetrics, MatchHandComputedValues) {
    // truth:     a a a a b b c
    // predicted: a a b c b a c
    const ClassificationMetrics m =
        classification_metrics({"a", "b", "c"}, {0, 0, 0, 0, 1, 1, 2}, {0, 0, 1, 2, 1, 0, 2});
    EXPECT_EQ(m.examples, 7);
    EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 7.0);
    EXPECT_EQ(m.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 1}, {1, 1, 0}, {0, 0, 1}}));
    EXPECT_DOUBLE_EQ(m.precision[0], 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.recall[0], 0.5);
    EXPECT_DOUBLE_EQ(m.f1[0], 2 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5));
    EXPECT_DOUBLE_EQ(m.precision[1], 0.5);
    EXPECT_DOUBLE_EQ(m.recall[1], 0.5);
    EXPECT_DOUBLE_EQ(m.precision[2], 0.5);
    EXPECT_DOUBLE_EQ(m.recall[2], 1.0);
    EXPECT_DOUBLE_EQ(m.macro_f1, (m.f1[0] + m.f1[1] + m.f1[2]) / 3);
    EXPECT_EQ(m.support, (std::vector<int64_t>{4, 2, 1}));
}

TEST(ClassificationMetrics, ALabelNeverPredictedScoresZero) {
    const ClassificationMetrics m = classification_metrics({"x", "y"}, {0, 1}, {0, 0});
    EXPECT_DOUBLE_EQ(m.precision[1], 0);
    EXPECT_DOUBLE_EQ(m.f1[1], 0);
    EXPECT_DOUBLE_EQ(m.macro_f1, (2 * 0.5 / 1.5) / 2);
    EXPECT_THROW(classification_metrics({"x", "y"}, {0, 2}, {0, 0}), ArgumentError);
    EXPECT_THROW(classification_metrics({"x", "y"}, {}, {}), ArgumentError);
}

TEST(NaiveBayes, WordsAsCountVectorizerFindsThem) {
    EXPECT_EQ(count_vectorizer_words("Hello, WORLD! a b2 x_y caf\xC3\xA9 10"),
              (std::vector<std::string>{"hello", "world", "b2", "x_y", "caf\xC3\xA9", "10"}));
}

TEST(NaiveBayes, LaplaceSmoothedScoresAndPredictions) {
    const NaiveBayesClassifier nb({"cheap pills cheap", "meeting notes", "notes agenda"}, {1, 0, 0},
                                  2);
    EXPECT_EQ(nb.vocabulary_size(), 5u);
    // ham: 4 words, spam: 3 words, V = 5, alpha = 1.
    const std::vector<double> s = nb.log_scores("cheap notes unknownword");
    EXPECT_NEAR(s[0], std::log(2.0 / 3) + std::log(1.0 / 9) + std::log(3.0 / 9), 1e-12);
    EXPECT_NEAR(s[1], std::log(1.0 / 3) + std::log(3.0 / 8) + std::log(1.0 / 8), 1e-12);
    EXPECT_EQ(nb.predict("cheap cheap pills"), 1);
    EXPECT_EQ(nb.predict("agenda for the meeting"), 0);
}

}  // namespace
}  // namespace edgelm
