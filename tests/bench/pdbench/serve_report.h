// The serving benchmark's summary: TTFT, time per output token and end-to-end latency
// percentiles, throughput, DistServe goodput, and the prefix-cache hit ratio against the trace's
// ceiling; as JSON or a table.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_SERVE_REPORT_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_SERVE_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/bench/pdbench/serve_runner.h"
#include "tests/bench/pdbench/trace.h"

namespace pdserve::bench {

struct LatencySummary {
  int64_t samples = 0;
  int64_t mean_ns = 0;
  int64_t p50_ns = 0;  // nearest rank, as in ghz
  int64_t p90_ns = 0;
  int64_t p99_ns = 0;
};

// Summary of `values_ns` (unsorted; empty gives zeros).
LatencySummary SummarizeLatencies(std::vector<int64_t> values_ns);

struct Slo {
  double ttft_ms = 0;  // 0 = no limit
  double tpot_ms = 0;  // 0 = no limit
};

struct ServeSummary {
  int64_t requests = 0;
  int64_t succeeded = 0;
  std::map<std::string, int64_t> status_code_distribution;
  std::map<std::string, int64_t> error_distribution;
  // Failures that are neither RESOURCE_EXHAUSTED nor UNAVAILABLE, or are one of those without a
  // grpc-retry-pushback-ms trailer (the sustained-load check allows only hinted overload).
  int64_t unexpected_errors = 0;
  int64_t short_streams = 0;      // OK streams with fewer tokens than asked for
  double duration_s = 0;
  double request_throughput = 0;  // OK requests / s
  double output_throughput = 0;   // output tokens / s
  double prompt_throughput = 0;   // prompt tokens / s (OK requests)
  LatencySummary ttft;            // OK requests
  LatencySummary tpot;            // (e2e - ttft) / (output - 1), OK requests with output > 1
  LatencySummary e2e;
  LatencySummary queue_delay;     // client-side wait past the scheduled arrival
  Slo slo;
  int64_t good = 0;               // OK and within both SLOs
  double goodput = 0;             // good / duration_s (DistServe)
  int64_t prompt_tokens = 0;      // over OK requests that reported usage
  int64_t reused_tokens = 0;
  double hit_ratio = 0;           // reused / prompt
  HitCeiling ceiling;
};

// TPOT of one stream, or -1 when it has fewer than two tokens or no first token.
int64_t StreamTpotNs(const StreamOutcome& o);

ServeSummary SummarizeServe(const ServeRunResult& run, const Slo& slo, const HitCeiling& ceiling);

nlohmann::json ServeSummaryToJson(const ServeSummary& s);
std::string FormatServeTable(const ServeSummary& s);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_SERVE_REPORT_H_
