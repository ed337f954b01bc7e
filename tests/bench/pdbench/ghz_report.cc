// Builds and renders ghz-format summaries (see ghz_report.h).
#include "tests/bench/pdbench/ghz_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pdserve::bench {

GhzReport BuildGhzReport(const std::vector<CallResult>& results, int64_t total_ns,
                         bool server_streaming) {
  GhzReport report;
  report.count = results.size();
  report.total_ns = total_ns;
  report.server_streaming = server_streaming;
  std::vector<int64_t> all_ns, ok_ns, first_ns;
  for (const CallResult& r : results) {
    all_ns.push_back(r.latency_ns);
    ++report.status_code_distribution[StatusCodeName(r.code)];
    if (r.code != 0) {
      ++report.error_distribution[GhzErrorString(r.code, r.message)];
    } else {
      ok_ns.push_back(r.latency_ns);
    }
    report.messages += r.messages;
    if (r.first_message_ns >= 0) first_ns.push_back(r.first_message_ns);
  }
  report.average_ns = MeanNs(all_ns);
  report.rps = total_ns > 0 ? report.count / (total_ns / 1e9) : 0;
  std::sort(ok_ns.begin(), ok_ns.end());
  if (!ok_ns.empty()) {
    report.fastest_ns = ok_ns.front();
    report.slowest_ns = ok_ns.back();
    report.latency_distribution = GhzLatencyDistribution(ok_ns);
    report.histogram = GhzHistogram(ok_ns);
  }
  std::sort(first_ns.begin(), first_ns.end());
  if (!first_ns.empty()) {
    report.first_message_average_ns = MeanNs(first_ns);
    report.first_message_fastest_ns = first_ns.front();
    report.first_message_slowest_ns = first_ns.back();
    report.first_message_distribution = GhzLatencyDistribution(first_ns);
  }
  return report;
}

namespace {

nlohmann::json DistributionJson(const std::vector<PercentilePoint>& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const PercentilePoint& p : points) {
    out.push_back({{"percentage", p.percentage}, {"latency", p.latency_ns}});
  }
  return out;
}

nlohmann::json OptionsJson(const ReportOptions& o) {
  nlohmann::json j = {{"host", o.host},
                      {"call", o.call},
                      {"insecure", o.insecure},
                      {"total", o.total},
                      {"concurrency", o.concurrency},
                      {"connections", o.connections},
                      {"rps", o.rps},
                      {"duration", o.duration_ns},
                      {"timeout", o.timeout_ns},
                      {"binary", false},
                      {"CPUs", 0}};
  if (!o.name.empty()) j["name"] = o.name;
  if (!o.proto.empty()) j["proto"] = o.proto;
  if (!o.import_paths.empty()) j["import-paths"] = o.import_paths;
  if (!o.data.is_null()) j["data"] = o.data;
  if (!o.metadata.is_null()) j["metadata"] = o.metadata;
  return j;
}

}  // namespace

nlohmann::json GhzReportToJson(const GhzReport& report, const ReportOptions& options) {
  nlohmann::json histogram = nlohmann::json::array();
  for (const HistogramBucket& b : report.histogram) {
    histogram.push_back({{"mark", b.mark_s}, {"count", b.count}, {"frequency", b.frequency}});
  }
  nlohmann::json j = {
      {"date", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
      {"endReason", report.end_reason},
      {"options", OptionsJson(options)},
      {"count", report.count},
      {"total", report.total_ns},
      {"average", report.average_ns},
      {"fastest", report.fastest_ns},
      {"slowest", report.slowest_ns},
      {"rps", report.rps},
      {"errorDistribution", nlohmann::json::object()},
      {"statusCodeDistribution", nlohmann::json::object()},
      {"latencyDistribution", DistributionJson(report.latency_distribution)},
      {"histogram", histogram},
  };
  if (!options.name.empty()) j["name"] = options.name;
  for (const auto& [k, v] : report.error_distribution) j["errorDistribution"][k] = v;
  for (const auto& [k, v] : report.status_code_distribution) j["statusCodeDistribution"][k] = v;
  if (report.server_streaming) {
    j["pdbench"] = {
        {"messages", report.messages},
        {"timeToFirstMessage",
         {{"average", report.first_message_average_ns},
          {"fastest", report.first_message_fastest_ns},
          {"slowest", report.first_message_slowest_ns},
          {"latencyDistribution", DistributionJson(report.first_message_distribution)}}}};
  }
  return j;
}

std::string FormatDurationNs(int64_t ns) {
  if (ns < 1000) return absl::StrCat(ns, " ns");
  if (ns < 1000000) return absl::StrFormat("%.2f us", ns / 1e3);
  if (ns < 1000000000) return absl::StrFormat("%.2f ms", ns / 1e6);
  return absl::StrFormat("%.2f s", ns / 1e9);
}

std::string FormatGhzReportTable(const GhzReport& r, const ReportOptions& o) {
  std::string out = absl::StrCat("\nSummary (", o.call, " @ ", o.host, "):\n");
  absl::StrAppendFormat(&out, "  %-16s %d\n", "Count:", r.count);
  absl::StrAppendFormat(&out, "  %-16s %s\n", "Total:", FormatDurationNs(r.total_ns));
  absl::StrAppendFormat(&out, "  %-16s %s\n", "Slowest:", FormatDurationNs(r.slowest_ns));
  absl::StrAppendFormat(&out, "  %-16s %s\n", "Fastest:", FormatDurationNs(r.fastest_ns));
  absl::StrAppendFormat(&out, "  %-16s %s\n", "Average:", FormatDurationNs(r.average_ns));
  absl::StrAppendFormat(&out, "  %-16s %.2f\n", "Requests/sec:", r.rps);
  if (r.server_streaming) {
    absl::StrAppendFormat(&out, "  %-16s %d\n", "Messages:", r.messages);
    absl::StrAppendFormat(&out, "  %-16s avg %s, fastest %s, slowest %s\n", "First message:",
                          FormatDurationNs(r.first_message_average_ns),
                          FormatDurationNs(r.first_message_fastest_ns),
                          FormatDurationNs(r.first_message_slowest_ns));
  }
  out += "\nLatency distribution (OK calls):\n";
  for (const PercentilePoint& p : r.latency_distribution) {
    absl::StrAppendFormat(&out, "  %3d %% in %s\n", p.percentage, FormatDurationNs(p.latency_ns));
  }
  out += "\nStatus code distribution:\n";
  for (const auto& [name, n] : r.status_code_distribution) {
    absl::StrAppendFormat(&out, "  [%s] %d responses\n", name, n);
  }
  if (!r.error_distribution.empty()) {
    out += "\nError distribution:\n";
    for (const auto& [error, n] : r.error_distribution) {
      absl::StrAppendFormat(&out, "  [%d] %s\n", n, error);
    }
  }
  return out;
}

}  // namespace pdserve::bench
