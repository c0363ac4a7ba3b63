// edgelm ab-report's arithmetic: scrape parsing, differences between scrapes, latency
// quantiles from histogram buckets, and the two-proportion z-test.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "serve/ab_report.h"

namespace edgelm::serve {
namespace {

const char* kScrape = R"(# HELP edgelm_requests_total Requests.
# TYPE edgelm_requests_total counter
edgelm_requests_total{endpoint="completions",code="200",variant="a"} 90
edgelm_requests_total{endpoint="completions",code="500",variant="a"} 10
edgelm_requests_total{endpoint="completions",code="200",variant="b"} 100
edgelm_requests_total{endpoint="feedback",code="200",variant="b"} 7
edgelm_feedback_total{variant="a"} 200
edgelm_feedback_positive_total{variant="a"} 120
edgelm_feedback_total{variant="b"} 200
edgelm_feedback_positive_total{variant="b"} 80
edgelm_request_duration_seconds_bucket{endpoint="completions",variant="a",le="0.1"} 50
edgelm_request_duration_seconds_bucket{endpoint="completions",variant="a",le="1"} 100
edgelm_request_duration_seconds_bucket{endpoint="completions",variant="a",le="+Inf"} 100
)";

TEST(ServeAbReportTest, ReportsPerVariantRatesAndLatency) {
    const nlohmann::json r = ab_report(Scrape::parse(kScrape));
    const auto& a = r["variants"]["a"];
    EXPECT_EQ(a["requests"], 100);
    EXPECT_DOUBLE_EQ(a["error_rate"].get<double>(), 0.1);
    EXPECT_DOUBLE_EQ(a["latency_p50_s"].get<double>(), 0.1);    // the 50th of 100 ends bucket 0.1
    EXPECT_NEAR(a["latency_p95_s"].get<double>(), 0.91, 1e-9);  // 0.1 + 0.9 * 45/50
    EXPECT_EQ(r["variants"]["b"]["requests"], 100);             // feedback requests not counted
    EXPECT_TRUE(r["variants"]["b"]["latency_p50_s"].is_null());
    // 120/200 against 80/200: p = 0.5, se = 0.05, z = 4.
    EXPECT_NEAR(r["feedback_test"]["z"].get<double>(), 4.0, 1e-9);
    EXPECT_NEAR(r["feedback_test"]["p_value"].get<double>(), std::erfc(4 / std::sqrt(2.0)), 1e-12);
    EXPECT_NE(ab_report_text(r).find("feedback_test: z = 4.00"), std::string::npos)
        << ab_report_text(r);
}

TEST(ServeAbReportTest, SinceSubtractsAnEarlierScrape) {
    const Scrape earlier = Scrape::parse(
        "edgelm_requests_total{endpoint=\"completions\",code=\"200\",variant=\"a\"} 40\n"
        "edgelm_slots{variant=\"a\"} 4\n");
    const Scrape d = Scrape::parse(kScrape).since(earlier);
    EXPECT_EQ(
        d.series.at("edgelm_requests_total{endpoint=\"completions\",code=\"200\",variant=\"a\"}"),
        50);
    EXPECT_EQ(ab_report(d)["variants"]["a"]["requests"], 60);
}

TEST(ServeAbReportTest, ZTestWithoutTrialsSaysNothing) {
    EXPECT_EQ(two_proportion_z(0, 0, 5, 10).p_value, 1.0);
    EXPECT_EQ(two_proportion_z(5, 10, 5, 10).z, 0.0);
    EXPECT_THROW(Scrape::parse("edgelm_x{a=\"b\"}\n"), ArgumentError);
}

}  // namespace
}  // namespace edgelm::serve
