// Latency percentiles and histograms computed exactly as ghz computes them, so pdbench's
// summaries compare one to one with ghz's.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_LATENCY_STATS_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_LATENCY_STATS_H_

#include <cstdint>
#include <vector>

namespace pdserve::bench {

// The percentages ghz reports: 10, 25, 50, 75, 90, 95, 99.
const std::vector<int>& GhzPercentages();

struct PercentilePoint {
  int percentage = 0;
  int64_t latency_ns = 0;
};

// Nearest-rank percentile: the value at 0-based index ceil(p/100 * n) - 1 (clamped to 0).
// REQUIRES: `sorted_ns` ascending and non-empty; 0 < p <= 100.
int64_t NearestRankPercentile(const std::vector<int64_t>& sorted_ns, double p);

// One point per GhzPercentages() entry. Empty input gives an empty vector.
// REQUIRES: `sorted_ns` ascending.
std::vector<PercentilePoint> GhzLatencyDistribution(const std::vector<int64_t>& sorted_ns);

struct HistogramBucket {
  double mark_s = 0;     // upper bound of the bucket, in seconds (ghz's unit for marks)
  int64_t count = 0;
  double frequency = 0;  // count / number of samples
};

// ghz's histogram: 11 marks, fastest + i * (slowest - fastest) / 10 for i < 10 and slowest last;
// each sample lands in the first bucket whose mark is >= the sample. Empty input gives an empty
// vector. REQUIRES: `sorted_ns` ascending.
std::vector<HistogramBucket> GhzHistogram(const std::vector<int64_t>& sorted_ns);

// Arithmetic mean in ns, 0 for empty input.
int64_t MeanNs(const std::vector<int64_t>& values_ns);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_LATENCY_STATS_H_
