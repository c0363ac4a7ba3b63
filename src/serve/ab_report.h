// `edgelm ab-report`: the A/B comparison read from edgelm serve's /metrics: per variant,
// requests, error rate, latency p50/p95 (from the duration histogram, interpolated within
// buckets as Prometheus's histogram_quantile does) and positive-feedback rate, with a
// two-proportion z-test between the variants for both rates. Counters are cumulative, so
// a report over a period subtracts an earlier scrape (--since).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace edgelm::serve {

// One scrape: series (name{labels}) to value. Throws ArgumentError on a malformed line.
struct Scrape {
    std::map<std::string, double> series;
    static Scrape parse(const std::string& text);
    // `this` minus an earlier scrape of the same server.
    Scrape since(const Scrape& earlier) const;
};

struct ProportionTest {
    double z = 0, p_value = 1;  // two-sided; p_value 1 when either side has no trials
};
ProportionTest two_proportion_z(double successes_a, double trials_a, double successes_b,
                                double trials_b);

// {"variants": {"a": {...}, "b": {...}}, "error_rate_test": {...}, "feedback_test": {...}}
nlohmann::json ab_report(const Scrape& scrape);
std::string ab_report_text(const nlohmann::json& report);

}  // namespace edgelm::serve
