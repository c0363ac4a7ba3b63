#include "serve/ab_report.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"

namespace edgelm::serve {

using nlohmann::json;

namespace {

// The labels of a series "name{k="v",...}" (values unescaped).
std::map<std::string, std::string> labels_of(const std::string& series) {
    std::map<std::string, std::string> out;
    const size_t open = series.find('{');
    if (open == std::string::npos) return out;
    size_t i = open + 1;
    while (i < series.size() && series[i] != '}') {
        const size_t eq = series.find('=', i);
        if (eq == std::string::npos || eq + 1 >= series.size() || series[eq + 1] != '"') break;
        std::string value;
        size_t j = eq + 2;
        for (; j < series.size() && series[j] != '"'; ++j) {
            if (series[j] == '\\' && j + 1 < series.size()) {
                ++j;
                value += series[j] == 'n' ? '\n' : series[j];
            } else {
                value += series[j];
            }
        }
        out[series.substr(i, eq - i)] = value;
        i = j + 1;
        if (i < series.size() && series[i] == ',') ++i;
    }
    return out;
}

std::string name_of(const std::string& series) {
    return series.substr(0, series.find('{'));
}

// histogram_quantile over cumulative (le, count) pairs sorted by le.
double quantile(double q, const std::vector<std::pair<double, double>>& buckets) {
    if (buckets.empty() || buckets.back().second <= 0) return NAN;
    const double rank = q * buckets.back().second;
    double prev_le = 0, prev_count = 0;
    for (const auto& [le, count] : buckets) {
        if (count >= rank) {
            if (std::isinf(le)) return prev_le;  // beyond the last finite bound
            return count == prev_count
                       ? le
                       : prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count);
        }
        prev_le = le;
        prev_count = count;
    }
    return prev_le;
}

}  // namespace

Scrape Scrape::parse(const std::string& text) {
    Scrape s;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line[0] == '#') continue;
        const size_t close = line.find('}');
        const size_t space = line.find(' ', close == std::string::npos ? 0 : close);
        if (space == std::string::npos)
            throw ArgumentError("metrics line " + std::to_string(n) + " has no value: \"" + line +
                                "\"");
        char* end = nullptr;
        const std::string value = line.substr(space + 1);
        double v = value == "+Inf" ? INFINITY : std::strtod(value.c_str(), &end);
        if (value != "+Inf" && (end == value.c_str()))
            throw ArgumentError("metrics line " + std::to_string(n) + " has no number: \"" + line +
                                "\"");
        s.series[line.substr(0, space)] = v;
    }
    return s;
}

Scrape Scrape::since(const Scrape& earlier) const {
    Scrape d = *this;
    for (auto& [k, v] : d.series) {
        auto it = earlier.series.find(k);
        if (it != earlier.series.end() && name_of(k).find("_total") != std::string::npos)
            v -= it->second;
        if (it != earlier.series.end() &&
            (name_of(k).ends_with("_bucket") || name_of(k).ends_with("_count") ||
             name_of(k).ends_with("_sum")))
            v -= it->second;
    }
    return d;
}

ProportionTest two_proportion_z(double xa, double na, double xb, double nb) {
    ProportionTest t;
    if (na <= 0 || nb <= 0) return t;
    const double pa = xa / na, pb = xb / nb, p = (xa + xb) / (na + nb);
    const double se = std::sqrt(p * (1 - p) * (1 / na + 1 / nb));
    if (se <= 0) return t;
    t.z = (pa - pb) / se;
    t.p_value = std::erfc(std::abs(t.z) / std::sqrt(2.0));
    return t;
}

json ab_report(const Scrape& scrape) {
    struct Variant {
        double requests = 0, errors = 0, feedback = 0, positive = 0;
        std::map<double, double> buckets;  // le -> cumulative count, generation endpoints summed
    };
    std::map<std::string, Variant> v;
    for (const auto& [series, value] : scrape.series) {
        const std::string name = name_of(series);
        auto labels = labels_of(series);
        if (!labels.count("variant")) continue;
        Variant& x = v[labels["variant"]];
        if (name == "edgelm_requests_total") {
            if (labels["endpoint"] == "feedback" || labels["endpoint"] == "models") continue;
            x.requests += value;
            if (std::atoi(labels["code"].c_str()) >= 500) x.errors += value;
        } else if (name == "edgelm_feedback_total") {
            x.feedback += value;
        } else if (name == "edgelm_feedback_positive_total") {
            x.positive += value;
        } else if (name == "edgelm_request_duration_seconds_bucket" &&
                   (labels["endpoint"] == "completions" ||
                    labels["endpoint"] == "chat_completions")) {
            const double le =
                labels["le"] == "+Inf" ? INFINITY : std::strtod(labels["le"].c_str(), nullptr);
            x.buckets[le] += value;
        }
    }
    json out = {{"variants", json::object()}};
    for (auto& [name, x] : v) {
        const std::vector<std::pair<double, double>> b(x.buckets.begin(), x.buckets.end());
        auto number = [](double d) { return std::isnan(d) ? json(nullptr) : json(d); };
        out["variants"][name] = {
            {"requests", x.requests},
            {"errors", x.errors},
            {"error_rate", x.requests > 0 ? json(x.errors / x.requests) : json(nullptr)},
            {"latency_p50_s", number(quantile(0.5, b))},
            {"latency_p95_s", number(quantile(0.95, b))},
            {"feedback", x.feedback},
            {"positive_feedback", x.positive},
            {"positive_rate", x.feedback > 0 ? json(x.positive / x.feedback) : json(nullptr)}};
    }
    if (v.count("a") && v.count("b")) {
        const Variant &a = v["a"], &b = v["b"];
        const ProportionTest e = two_proportion_z(a.errors, a.requests, b.errors, b.requests);
        const ProportionTest f = two_proportion_z(a.positive, a.feedback, b.positive, b.feedback);
        out["error_rate_test"] = {{"z", e.z}, {"p_value", e.p_value}};
        out["feedback_test"] = {{"z", f.z}, {"p_value", f.p_value}};
    }
    return out;
}

std::string ab_report_text(const json& r) {
    std::string s;
    char line[256];
    std::snprintf(line, sizeof line, "%-8s %10s %8s %10s %10s %9s %9s\n", "variant", "requests",
                  "errors", "p50 ms", "p95 ms", "feedback", "positive");
    s += line;
    auto ms = [](const json& v) {
        return v.is_null() ? std::string("-")
                           : std::to_string(static_cast<int>(v.get<double>() * 1000 + 0.5));
    };
    auto pct = [](const json& v) {
        if (v.is_null()) return std::string("-");
        char b[16];
        std::snprintf(b, sizeof b, "%.1f%%", v.get<double>() * 100);
        return std::string(b);
    };
    for (const auto& [name, x] : r["variants"].items()) {
        std::snprintf(line, sizeof line, "%-8s %10.0f %8s %10s %10s %9.0f %9s\n", name.c_str(),
                      x["requests"].get<double>(), pct(x["error_rate"]).c_str(),
                      ms(x["latency_p50_s"]).c_str(), ms(x["latency_p95_s"]).c_str(),
                      x["feedback"].get<double>(), pct(x["positive_rate"]).c_str());
        s += line;
    }
    for (const char* test : {"error_rate_test", "feedback_test"})
        if (r.contains(test)) {
            std::snprintf(line, sizeof line,
                          "%s: z = %.2f, p = %.3g (two-proportion z-test, a vs b)\n", test,
                          r[test]["z"].get<double>(), r[test]["p_value"].get<double>());
            s += line;
        }
    return s;
}

}  // namespace edgelm::serve
