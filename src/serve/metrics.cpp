#include "serve/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace edgelm::serve {

namespace {

// Label values escape backslash, double quote and line feed (the 0.0.4 format).
std::string render_labels(const Labels& labels) {
    std::string out;
    for (const auto& [k, v] : labels) {
        out += out.empty() ? "" : ",";
        out += k + "=\"";
        for (char c : v) {
            if (c == '\\')
                out += "\\\\";
            else if (c == '"')
                out += "\\\"";
            else if (c == '\n')
                out += "\\n";
            else
                out += c;
        }
        out += '"';
    }
    return out;
}

std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    char buf[32];
    for (int precision = 15; precision <= 17; ++precision) {  // the shortest that reads back
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

std::string braced(const std::string& labels, const std::string& extra = {}) {
    std::string all = labels;
    if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
    return all.empty() ? "" : "{" + all + "}";
}

}  // namespace

std::vector<double> latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void Metrics::declare(const std::string& name, Type type, const std::string& help,
                      std::vector<double> buckets) {
    std::lock_guard lock(mutex_);
    families_[name] = Family{type, help, std::move(buckets), {}};
}

Metrics::Series& Metrics::series(const std::string& name, const Labels& labels, Type type) {
    auto it = families_.find(name);
    if (it == families_.end() || it->second.type != type)
        throw std::logic_error("metric " + name + " is not declared with this type");
    Series& s = it->second.series[render_labels(labels)];
    if (type == Type::Histogram && s.buckets.empty()) s.buckets.assign(it->second.bounds.size(), 0);
    return s;
}

void Metrics::add(const std::string& name, const Labels& labels, double v) {
    std::lock_guard lock(mutex_);
    series(name, labels, Type::Counter).value += v;
}

void Metrics::set(const std::string& name, const Labels& labels, double v) {
    std::lock_guard lock(mutex_);
    series(name, labels, Type::Gauge).value = v;
}

void Metrics::observe(const std::string& name, const Labels& labels, double v) {
    std::lock_guard lock(mutex_);
    Series& s = series(name, labels, Type::Histogram);
    const auto& bounds = families_.at(name).bounds;
    for (size_t i = 0; i < bounds.size(); ++i)
        if (v <= bounds[i]) {
            ++s.buckets[i];
            break;
        }
    ++s.count;
    s.sum += v;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
    std::lock_guard lock(mutex_);
    auto it = families_.find(name);
    if (it == families_.end()) return 0;
    auto s = it->second.series.find(render_labels(labels));
    return s == it->second.series.end() ? 0 : s->second.value;
}

std::string Metrics::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [name, f] : families_) {
        const char* type = f.type == Type::Counter ? "counter"
                           : f.type == Type::Gauge ? "gauge"
                                                   : "histogram";
        out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
        for (const auto& [labels, s] : f.series) {
            if (f.type != Type::Histogram) {
                out += name + braced(labels) + " " + number(s.value) + "\n";
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t i = 0; i < f.bounds.size(); ++i) {
                cumulative += s.buckets[i];
                out += name + "_bucket" + braced(labels, "le=\"" + number(f.bounds[i]) + "\"") +
                       " " + std::to_string(cumulative) + "\n";
            }
            out += name + "_bucket" + braced(labels, "le=\"+Inf\"") + " " +
                   std::to_string(s.count) + "\n";
            out += name + "_sum" + braced(labels) + " " + number(s.sum) + "\n";
            out += name + "_count" + braced(labels) + " " + std::to_string(s.count) + "\n";
        }
    }
    return out;
}

}  // namespace edgelm::serve
