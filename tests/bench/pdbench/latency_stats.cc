// Latency percentiles and histograms with ghz's arithmetic (see latency_stats.h).
#include "tests/bench/pdbench/latency_stats.h"

#include <cmath>

namespace pdserve::bench {

const std::vector<int>& GhzPercentages() {
  static const std::vector<int>* const kPercentages =
      new std::vector<int>{10, 25, 50, 75, 90, 95, 99};
  return *kPercentages;
}

int64_t NearestRankPercentile(const std::vector<int64_t>& sorted_ns, double p) {
  const double rank = p / 100.0 * static_cast<double>(sorted_ns.size());
  int64_t index = static_cast<int64_t>(rank);
  // A whole-number rank lands exactly on an element: ranks are 1-based, indices 0-based.
  if (static_cast<double>(index) == rank) --index;
  if (index < 0) index = 0;
  if (index >= static_cast<int64_t>(sorted_ns.size())) index = sorted_ns.size() - 1;
  return sorted_ns[index];
}

std::vector<PercentilePoint> GhzLatencyDistribution(const std::vector<int64_t>& sorted_ns) {
  std::vector<PercentilePoint> points;
  if (sorted_ns.empty()) return points;
  for (int p : GhzPercentages()) {
    points.push_back({p, NearestRankPercentile(sorted_ns, p)});
  }
  return points;
}

std::vector<HistogramBucket> GhzHistogram(const std::vector<int64_t>& sorted_ns) {
  std::vector<HistogramBucket> buckets;
  if (sorted_ns.empty()) return buckets;
  constexpr int kBuckets = 10;
  const double fastest = sorted_ns.front() / 1e9;
  const double slowest = sorted_ns.back() / 1e9;
  const double width = (slowest - fastest) / kBuckets;
  buckets.resize(kBuckets + 1);
  for (int i = 0; i < kBuckets; ++i) buckets[i].mark_s = fastest + width * i;
  buckets[kBuckets].mark_s = slowest;
  size_t b = 0;
  for (int64_t ns : sorted_ns) {
    const double s = ns / 1e9;
    while (s > buckets[b].mark_s && b + 1 < buckets.size()) ++b;
    ++buckets[b].count;
  }
  for (HistogramBucket& bucket : buckets) {
    bucket.frequency = static_cast<double>(bucket.count) / sorted_ns.size();
  }
  return buckets;
}

int64_t MeanNs(const std::vector<int64_t>& values_ns) {
  if (values_ns.empty()) return 0;
  long double sum = 0;
  for (int64_t v : values_ns) sum += v;
  return static_cast<int64_t>(std::llround(sum / values_ns.size()));
}

}  // namespace pdserve::bench
