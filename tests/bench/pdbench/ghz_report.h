// A ghz-format run summary: built from per-call results, written as ghz's `-O json` report
// (durations in nanoseconds, histogram marks in seconds) or as a human-readable table.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_GHZ_REPORT_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_GHZ_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/bench/pdbench/call_result.h"
#include "tests/bench/pdbench/latency_stats.h"

namespace pdserve::bench {

// The run's settings, echoed under "options" as ghz does.
struct ReportOptions {
  std::string name;
  std::string host;
  std::string call;
  std::string proto;
  std::vector<std::string> import_paths;
  bool insecure = true;
  uint64_t total = 0;
  uint64_t concurrency = 0;
  uint64_t connections = 0;
  uint64_t rps = 0;
  int64_t duration_ns = 0;
  int64_t timeout_ns = 0;
  nlohmann::json data;
  nlohmann::json metadata;
};

struct GhzReport {
  std::string end_reason = "normal";  // "normal" (total reached) or "timeout" (duration)
  uint64_t count = 0;                 // every call, failed ones included
  int64_t total_ns = 0;               // wall time of the run
  int64_t average_ns = 0;             // mean latency of every call (ghz includes errors)
  int64_t fastest_ns = 0;             // over OK calls only, as ghz
  int64_t slowest_ns = 0;
  double rps = 0;                     // count / total
  std::map<std::string, int64_t> status_code_distribution;  // "OK", "NotFound", ...
  std::map<std::string, int64_t> error_distribution;        // ghz's error strings
  std::vector<PercentilePoint> latency_distribution;        // OK calls only
  std::vector<HistogramBucket> histogram;                   // OK calls only

  // pdbench's extension for server-streaming calls (under "pdbench" in the JSON).
  bool server_streaming = false;
  int64_t messages = 0;  // response messages over all calls
  int64_t first_message_average_ns = 0;
  int64_t first_message_fastest_ns = 0;
  int64_t first_message_slowest_ns = 0;
  std::vector<PercentilePoint> first_message_distribution;
};

// Summarizes `results` of a run that lasted `total_ns`.
GhzReport BuildGhzReport(const std::vector<CallResult>& results, int64_t total_ns,
                         bool server_streaming);

// ghz's JSON report: name, endReason, options, date, count, total, average, fastest, slowest,
// rps, errorDistribution, statusCodeDistribution, latencyDistribution, histogram; plus "pdbench"
// with time to first message for server-streaming calls.
nlohmann::json GhzReportToJson(const GhzReport& report, const ReportOptions& options);

// A summary table in the spirit of ghz's default text output.
std::string FormatGhzReportTable(const GhzReport& report, const ReportOptions& options);

// "1.23 ms"-style rendering of a duration in ns.
std::string FormatDurationNs(int64_t ns);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_GHZ_REPORT_H_
