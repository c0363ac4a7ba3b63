// Prometheus metrics in the text exposition format 0.0.4 (what /metrics returns), written
// here because the format is small: counters, gauges and histograms with labels, each
// family declared once with its help text. Thread-safe; a scrape renders a consistent copy.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace edgelm::serve {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
  public:
    enum class Type { Counter, Gauge, Histogram };
    // Declares a family (its name, help and, for histograms, the bucket upper bounds).
    void declare(const std::string& name, Type type, const std::string& help,
                 std::vector<double> buckets = {});
    void add(const std::string& name, const Labels& labels, double v = 1);  // counter
    void set(const std::string& name, const Labels& labels, double v);      // gauge
    void observe(const std::string& name, const Labels& labels, double v);  // histogram
    // The value of a counter or gauge series (0 if never touched), for tests and reports.
    double value(const std::string& name, const Labels& labels) const;
    std::string render() const;

  private:
    struct Series {
        double value = 0;               // counter or gauge
        std::vector<uint64_t> buckets;  // histogram: per bucket (not cumulative)
        uint64_t count = 0;
        double sum = 0;
    };
    struct Family {
        Type type;
        std::string help;
        std::vector<double> bounds;
        std::map<std::string, Series> series;  // by rendered label set
    };
    Series& series(const std::string& name, const Labels& labels, Type type);

    mutable std::mutex mutex_;
    std::map<std::string, Family> families_;
};

// Bucket bounds in seconds from 1 ms to 60 s, for request latencies.
std::vector<double> latency_buckets();

}  // namespace edgelm::serve
