// The Prometheus text format 0.0.4 as Metrics writes it (promtool checks a live scrape in
// serve_http_test).
#include <gtest/gtest.h>

#include "serve/metrics.h"

namespace edgelm::serve {
namespace {

TEST(ServeMetricsTest, RendersCountersGaugesAndCumulativeHistograms) {
    Metrics m;
    m.declare("x_requests_total", Metrics::Type::Counter, "Requests.");
    m.declare("x_busy", Metrics::Type::Gauge, "Busy.");
    m.declare("x_seconds", Metrics::Type::Histogram, "Latency.", {0.1, 1});
    m.add("x_requests_total", {{"code", "200"}});
    m.add("x_requests_total", {{"code", "200"}}, 2);
    m.add("x_requests_total", {{"code", "4\"0\\0\n"}});
    m.set("x_busy", {}, 3);
    for (double v : {0.05, 0.5, 0.5, 7.0}) m.observe("x_seconds", {{"v", "a"}}, v);
    EXPECT_EQ(m.value("x_requests_total", {{"code", "200"}}), 3);
    const std::string text = m.render();
    for (const char* line :
         {"# HELP x_requests_total Requests.\n", "# TYPE x_requests_total counter\n",
          "x_requests_total{code=\"200\"} 3\n", "x_requests_total{code=\"4\\\"0\\\\0\\n\"} 1\n",
          "# TYPE x_busy gauge\n", "x_busy 3\n", "# TYPE x_seconds histogram\n",
          "x_seconds_bucket{v=\"a\",le=\"0.1\"} 1\n", "x_seconds_bucket{v=\"a\",le=\"1\"} 3\n",
          "x_seconds_bucket{v=\"a\",le=\"+Inf\"} 4\n", "x_seconds_sum{v=\"a\"} 8.05\n",
          "x_seconds_count{v=\"a\"} 4\n"})
        EXPECT_NE(text.find(line), std::string::npos) << "missing " << line << " in\n" << text;
    EXPECT_THROW(m.add("x_busy", {}), std::logic_error);  // a gauge is not a counter
}

}  // namespace
}  // namespace edgelm::serve
