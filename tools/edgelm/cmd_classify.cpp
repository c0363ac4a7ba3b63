// edgelm classify MODEL [TEXT | -f FILE | --jsonl FILE]: the label and probabilities of texts.
// edgelm eval --task classify MODEL --data test.jsonl: accuracy, F1, confusion, latency;
//   --baseline naive-bayes --train train.jsonl scores the classic baseline the same way.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "data/email_message.h"
#include "data/labelled_texts.h"
#include "eval/classification_metrics.h"
#include "eval/naive_bayes.h"
#include "runtime/model.h"
#include "runtime/sequence_classifier.h"

namespace edgelm::cli {

namespace {

struct ClassifyOptions {
    std::string model, text, file, jsonl;
    int threads = default_threads();
    bool json = false, email = false;
};

nlohmann::json probs_json(const std::vector<std::string>& labels, const ClassPrediction& p) {
    nlohmann::json probs = nlohmann::json::object();
    for (size_t i = 0; i < labels.size(); ++i) probs[labels[i]] = p.probs[i];
    return probs;
}

void print_prediction(const std::vector<std::string>& labels, const ClassPrediction& p, bool json) {
    const std::string& label = labels[static_cast<size_t>(p.label)];
    if (json) {
        const nlohmann::json j = {{"label", label}, {"probs", probs_json(labels, p)}};
        std::printf("%s\n", j.dump().c_str());
        return;
    }
    std::printf("%s", label.c_str());
    for (size_t i = 0; i < labels.size(); ++i)
        std::printf("\t%s=%.4f", labels[i].c_str(), static_cast<double>(p.probs[i]));
    std::printf("\n");
}

void run_classify(const ClassifyOptions& o) {
    const int sources = !o.text.empty() + !o.file.empty() + !o.jsonl.empty();
    if (sources != 1)
        throw ArgumentError("classify: give exactly one of TEXT, -f FILE or --jsonl FILE");
    SequenceClassifier classifier(Model::load(o.model), o.threads);
    if (!o.jsonl.empty()) {
        for (const data::LabelledText& t : data::read_labelled_texts(o.jsonl, false))
            print_prediction(classifier.labels(), classifier.classify(t.text), o.json);
        return;
    }
    if (o.email) {  // a raw message, turned into text as `edgelm data emails` does
        if (o.file.empty()) throw ArgumentError("classify: --email reads the message from -f FILE");
        const std::string text =
            data::email_to_text(read_text_file(o.file), data::EmailTextOptions{}, o.file);
        print_prediction(classifier.labels(), classifier.classify(text), o.json);
        return;
    }
    const std::string text = o.file.empty() ? o.text : read_text_file(o.file);
    print_prediction(classifier.labels(), classifier.classify(text), o.json);
}

struct EvalOptions {
    std::string task, model, data, baseline, train;
    int threads = default_threads();
    bool json = false;
};

double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

int label_index(const std::vector<std::string>& labels, const data::LabelledText& t) {
    const auto it = std::find(labels.begin(), labels.end(), t.label);
    if (it == labels.end())
        throw FormatError(t.where + ": label '" + t.label + "' is not one the classifier knows");
    return static_cast<int>(it - labels.begin());
}

void run_eval(const EvalOptions& o) {
    if (o.task != "classify")
        throw ArgumentError("eval: --task '" + o.task +
                            "': this command scores classifiers (--task classify); for "
                            "perplexity run `edgelm perplexity`");
    if (o.baseline.empty() == o.model.empty())
        throw ArgumentError("eval: give a MODEL, or --baseline naive-bayes with --train FILE");
    const std::vector<data::LabelledText> test = data::read_labelled_texts(o.data);
    std::vector<std::string> labels;
    std::function<int(const std::string&)> predict;
    std::unique_ptr<SequenceClassifier> classifier;
    std::unique_ptr<NaiveBayesClassifier> bayes;
    std::vector<double> tokens;
    if (!o.model.empty()) {
        classifier = std::make_unique<SequenceClassifier>(Model::load(o.model), o.threads);
        labels = classifier->labels();
        predict = [&](const std::string& text) {
            const ClassPrediction p = classifier->classify(text);
            tokens.push_back(p.tokens);
            return p.label;
        };
    } else {
        if (o.baseline != "naive-bayes")
            throw ArgumentError("eval: --baseline '" + o.baseline + "': choose naive-bayes");
        if (o.train.empty()) throw ArgumentError("eval: --baseline needs --train FILE.jsonl");
        const std::vector<data::LabelledText> train = data::read_labelled_texts(o.train);
        for (const auto& t : train)
            if (std::find(labels.begin(), labels.end(), t.label) == labels.end())
                labels.push_back(t.label);
        std::sort(labels.begin(), labels.end());
        std::vector<std::string> texts;
        std::vector<int> ids;
        for (const auto& t : train) {
            texts.push_back(t.text);
            ids.push_back(label_index(labels, t));
        }
        bayes = std::make_unique<NaiveBayesClassifier>(texts, ids, static_cast<int>(labels.size()));
        predict = [&](const std::string& text) { return bayes->predict(text); };
    }
    std::vector<int> truth, predicted;
    std::vector<double> latency_ms;
    const bool tty = isatty(STDERR_FILENO) == 1;
    for (size_t i = 0; i < test.size(); ++i) {
        truth.push_back(label_index(labels, test[i]));
        const auto t0 = std::chrono::steady_clock::now();
        predicted.push_back(predict(test[i].text));
        latency_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
        if (tty && (i + 1) % 100 == 0) std::fprintf(stderr, "\r%zu/%zu texts", i + 1, test.size());
    }
    if (tty && test.size() >= 100) std::fprintf(stderr, "\r\033[K");
    const ClassificationMetrics m = classification_metrics(labels, truth, predicted);
    const double p50 = percentile(latency_ms, 0.5), p95 = percentile(latency_ms, 0.95);
    if (o.json) {
        nlohmann::json f1 = nlohmann::json::object(), precision = nlohmann::json::object(),
                       recall = nlohmann::json::object();
        for (size_t c = 0; c < labels.size(); ++c) {
            f1[labels[c]] = m.f1[c];
            precision[labels[c]] = m.precision[c];
            recall[labels[c]] = m.recall[c];
        }
        nlohmann::json j = {{"classifier", o.model.empty() ? o.baseline : o.model},
                            {"examples", m.examples},
                            {"accuracy", m.accuracy},
                            {"macro_f1", m.macro_f1},
                            {"f1", f1},
                            {"precision", precision},
                            {"recall", recall},
                            {"labels", labels},
                            {"confusion", m.confusion},
                            {"latency_ms", {{"p50", p50}, {"p95", p95}}}};
        if (!tokens.empty()) {
            double sum = 0;
            for (double t : tokens) sum += t;
            j["mean_tokens"] = sum / static_cast<double>(tokens.size());
        }
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    std::printf("%lld texts: accuracy %.4f, macro-F1 %.4f\n", static_cast<long long>(m.examples),
                m.accuracy, m.macro_f1);
    std::printf("%-12s %9s %9s %9s %8s\n", "label", "precision", "recall", "f1", "support");
    for (size_t c = 0; c < labels.size(); ++c)
        std::printf("%-12s %9.4f %9.4f %9.4f %8lld\n", labels[c].c_str(), m.precision[c],
                    m.recall[c], m.f1[c], static_cast<long long>(m.support[c]));
    std::printf("confusion (rows: true, columns: predicted)\n%-12s", "");
    for (const auto& l : labels) std::printf(" %8s", l.c_str());
    std::printf("\n");
    for (size_t c = 0; c < labels.size(); ++c) {
        std::printf("%-12s", labels[c].c_str());
        for (int64_t v : m.confusion[c]) std::printf(" %8lld", static_cast<long long>(v));
        std::printf("\n");
    }
    std::printf("latency per text: p50 %.3f ms, p95 %.3f ms\n", p50, p95);
}

}  // namespace

void add_classify(CLI::App& app) {
    auto o = std::make_shared<ClassifyOptions>();
    CLI::App* sub = app.add_subcommand(
        "classify",
        "Label texts with a model's classification head (edgelm finetune --task classify)");
    sub->add_option("model", o->model, "GGUF model with a classification head")->required();
    sub->add_option("text", o->text, "The text to classify");
    sub->add_option("-f,--file", o->file, "Classify this file's whole content");
    sub->add_option("--jsonl", o->jsonl, "Classify each line's \"text\" (one result per line)");
    sub->add_flag("--email", o->email,
                  "-f FILE is a raw RFC 822 message: classify its text as `edgelm data emails` "
                  "writes it (default --headers)");
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_flag("--json", o->json, "Print {\"label\", \"probs\"} objects");
    sub->callback([o] { run_classify(*o); });
}

void add_eval(CLI::App& app) {
    auto o = std::make_shared<EvalOptions>();
    CLI::App* sub = app.add_subcommand(
        "eval", "Score a classifier on labelled JSONL: accuracy, F1, confusion, latency");
    sub->add_option("--task", o->task, "classify")->required();
    sub->add_option("model", o->model, "GGUF model with a classification head");
    sub->add_option("--data", o->data, "Test texts: JSONL with \"text\" and \"label\"")->required();
    sub->add_option("--baseline", o->baseline,
                    "Instead of a model: naive-bayes (multinomial, word counts) fitted on --train");
    sub->add_option("--train", o->train, "Training texts for --baseline");
    sub->add_option("-t,--threads", o->threads, "Threads")->capture_default_str();
    sub->add_flag("--json", o->json, "Print JSON");
    sub->callback([o] { run_eval(*o); });
}

}  // namespace edgelm::cli
