// Tests of the Prometheus registry's arithmetic and text format.
#include "services/common/metrics.h"

#include "gtest/gtest.h"

namespace pdserve::common {
namespace {

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram* h = registry.AddHistogram("pdserve_test_seconds", "test", {1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 3.0, 10.0}) h->Observe(v);
  std::string text = registry.Render();
  EXPECT_NE(text.find("# TYPE pdserve_test_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("pdserve_test_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_test_seconds_bucket{le=\"2\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_test_seconds_bucket{le=\"4\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_test_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("pdserve_test_seconds_sum 16\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_test_seconds_count 5\n"), std::string::npos);
  EXPECT_EQ(h->Count(), 5u);
}

TEST(MetricsTest, CountersGaugesAndCallbacksRender) {
  MetricsRegistry registry;
  registry.AddCounter("pdserve_requests_total", "requests")->Add(3);
  registry.AddGauge("pdserve_active", "active")->Set(7);
  double value = 1.5;
  registry.AddCallbackGauge("pdserve_ratio", "ratio", [&] { return value; });
  int hooks = 0;
  registry.AddCollectHook([&] { ++hooks; value = 2.5; });
  std::string text = registry.Render();
  EXPECT_NE(text.find("pdserve_requests_total 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_active 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_ratio 2.5\n"), std::string::npos) << text;
  EXPECT_EQ(hooks, 1);
}

TEST(MetricsTest, InfoRendersItsLabelsAndOne) {
  MetricsRegistry registry;
  registry.AddInfo("pdserve_build_info", "build", "kernels=\"avx2\"");
  const std::string text = registry.Render();
  EXPECT_NE(text.find("# TYPE pdserve_build_info gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdserve_build_info{kernels=\"avx2\"} 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace pdserve::common
