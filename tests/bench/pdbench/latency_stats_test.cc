// Percentile and histogram arithmetic against hand-computed values (ghz's definitions).
#include "tests/bench/pdbench/latency_stats.h"

#include <vector>

#include "gtest/gtest.h"

namespace pdserve::bench {
namespace {

constexpr int64_t kMs = 1000000;

std::vector<int64_t> OneToTenMs() {
  std::vector<int64_t> v;
  for (int i = 1; i <= 10; ++i) v.push_back(i * kMs);
  return v;
}

TEST(LatencyStatsTest, NearestRankOnTenSamples) {
  // rank = p/100 * 10: 1.0 -> index 0, 2.5 -> 2, 5.0 -> 4, 7.5 -> 7, 9.0 -> 8, 9.5 -> 9, 9.9 -> 9.
  const std::vector<PercentilePoint> d = GhzLatencyDistribution(OneToTenMs());
  ASSERT_EQ(d.size(), 7u);
  const int64_t expected_ms[] = {1, 3, 5, 8, 9, 10, 10};
  const int expected_pct[] = {10, 25, 50, 75, 90, 95, 99};
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(d[i].percentage, expected_pct[i]);
    EXPECT_EQ(d[i].latency_ns, expected_ms[i] * kMs) << "p" << expected_pct[i];
  }
}

TEST(LatencyStatsTest, NearestRankWithDuplicates) {
  const std::vector<int64_t> v = {1 * kMs, 1 * kMs, 1 * kMs, 2 * kMs};
  EXPECT_EQ(NearestRankPercentile(v, 50), 1 * kMs);  // rank 2.0 -> index 1
  EXPECT_EQ(NearestRankPercentile(v, 75), 1 * kMs);  // rank 3.0 -> index 2
  EXPECT_EQ(NearestRankPercentile(v, 90), 2 * kMs);  // rank 3.6 -> index 3
  EXPECT_EQ(NearestRankPercentile(v, 10), 1 * kMs);  // rank 0.4 -> index 0
}

TEST(LatencyStatsTest, EmptyInputGivesNothing) {
  EXPECT_TRUE(GhzLatencyDistribution({}).empty());
  EXPECT_TRUE(GhzHistogram({}).empty());
  EXPECT_EQ(MeanNs({}), 0);
}

TEST(LatencyStatsTest, HistogramOnTenSamples) {
  // Marks 1.0, 1.9, 2.8, ..., 9.1 ms and 10 ms; 2 ms falls past 1.9 into the 2.8 bucket.
  const std::vector<HistogramBucket> h = GhzHistogram(OneToTenMs());
  ASSERT_EQ(h.size(), 11u);
  const int64_t expected_counts[] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_NEAR(h[i].mark_s, i < 10 ? 0.001 + 0.0009 * i : 0.010, 1e-12) << i;
    EXPECT_EQ(h[i].count, expected_counts[i]) << i;
    EXPECT_DOUBLE_EQ(h[i].frequency, expected_counts[i] / 10.0) << i;
  }
}

TEST(LatencyStatsTest, HistogramOfOneValuePutsEverythingInFirstBucket) {
  const std::vector<HistogramBucket> h = GhzHistogram({5 * kMs, 5 * kMs});
  ASSERT_EQ(h.size(), 11u);
  EXPECT_EQ(h[0].count, 2);
  EXPECT_DOUBLE_EQ(h[0].frequency, 1.0);
  for (size_t i = 1; i < h.size(); ++i) EXPECT_EQ(h[i].count, 0);
}

TEST(LatencyStatsTest, MeanRounds) {
  EXPECT_EQ(MeanNs({1, 2}), 2);  // 1.5 rounds half away from zero
  EXPECT_EQ(MeanNs({10, 20, 30}), 20);
}

}  // namespace
}  // namespace pdserve::bench
