// Serving benchmark summary arithmetic and rendering (see serve_report.h).
#include "tests/bench/pdbench/serve_report.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "tests/bench/pdbench/call_result.h"
#include "tests/bench/pdbench/ghz_report.h"
#include "tests/bench/pdbench/latency_stats.h"

namespace pdserve::bench {

LatencySummary SummarizeLatencies(std::vector<int64_t> values_ns) {
  LatencySummary s;
  if (values_ns.empty()) return s;
  std::sort(values_ns.begin(), values_ns.end());
  s.samples = values_ns.size();
  s.mean_ns = MeanNs(values_ns);
  s.p50_ns = NearestRankPercentile(values_ns, 50);
  s.p90_ns = NearestRankPercentile(values_ns, 90);
  s.p99_ns = NearestRankPercentile(values_ns, 99);
  return s;
}

int64_t StreamTpotNs(const StreamOutcome& o) {
  if (o.output_tokens < 2 || o.ttft_ns < 0) return -1;
  return (o.e2e_ns - o.ttft_ns) / (o.output_tokens - 1);
}

ServeSummary SummarizeServe(const ServeRunResult& run, const Slo& slo, const HitCeiling& ceiling) {
  ServeSummary s;
  s.slo = slo;
  s.ceiling = ceiling;
  s.requests = run.outcomes.size();
  s.duration_s = run.duration_ns / 1e9;
  std::vector<int64_t> ttft, tpot, e2e, queue;
  int64_t output_tokens = 0, ok_prompt_tokens = 0;
  for (const StreamOutcome& o : run.outcomes) {
    ++s.status_code_distribution[StatusCodeName(o.code)];
    queue.push_back(o.queue_delay_ns);
    if (o.code != 0) {
      ++s.error_distribution[GhzErrorString(o.code, o.message)];
      constexpr int kResourceExhausted = 8, kUnavailable = 14;
      if ((o.code != kResourceExhausted && o.code != kUnavailable) || !o.retry_hint) {
        ++s.unexpected_errors;
      }
      continue;
    }
    ++s.succeeded;
    if (o.output_tokens < o.expected_output) ++s.short_streams;
    output_tokens += o.output_tokens;
    ok_prompt_tokens += o.prompt_tokens;
    if (o.ttft_ns >= 0) ttft.push_back(o.ttft_ns);
    const int64_t t = StreamTpotNs(o);
    if (t >= 0) tpot.push_back(t);
    e2e.push_back(o.e2e_ns);
    const bool ttft_ok = slo.ttft_ms <= 0 || (o.ttft_ns >= 0 && o.ttft_ns <= slo.ttft_ms * 1e6);
    const bool tpot_ok = slo.tpot_ms <= 0 || t < 0 || t <= slo.tpot_ms * 1e6;
    if (ttft_ok && tpot_ok) ++s.good;
    if (o.has_usage) {
      s.prompt_tokens += o.prompt_tokens;
      s.reused_tokens += o.reused_tokens;
    }
  }
  s.ttft = SummarizeLatencies(std::move(ttft));
  s.tpot = SummarizeLatencies(std::move(tpot));
  s.e2e = SummarizeLatencies(std::move(e2e));
  s.queue_delay = SummarizeLatencies(std::move(queue));
  if (s.duration_s > 0) {
    s.request_throughput = s.succeeded / s.duration_s;
    s.output_throughput = output_tokens / s.duration_s;
    s.prompt_throughput = ok_prompt_tokens / s.duration_s;
    s.goodput = s.good / s.duration_s;
  }
  s.hit_ratio = s.prompt_tokens > 0 ? static_cast<double>(s.reused_tokens) / s.prompt_tokens : 0;
  return s;
}

namespace {

nlohmann::json LatencyJson(const LatencySummary& l) {
  return {{"samples", l.samples}, {"mean_ms", l.mean_ns / 1e6}, {"p50_ms", l.p50_ns / 1e6},
          {"p90_ms", l.p90_ns / 1e6}, {"p99_ms", l.p99_ns / 1e6}};
}

}  // namespace

nlohmann::json ServeSummaryToJson(const ServeSummary& s) {
  nlohmann::json j = {
      {"requests", s.requests},
      {"succeeded", s.succeeded},
      {"short_streams", s.short_streams},
      {"unexpected_errors", s.unexpected_errors},
      {"statusCodeDistribution", s.status_code_distribution},
      {"errorDistribution", s.error_distribution},
      {"duration_s", s.duration_s},
      {"request_throughput", s.request_throughput},
      {"output_token_throughput", s.output_throughput},
      {"prompt_token_throughput", s.prompt_throughput},
      {"ttft", LatencyJson(s.ttft)},
      {"tpot", LatencyJson(s.tpot)},
      {"e2e", LatencyJson(s.e2e)},
      {"queue_delay", LatencyJson(s.queue_delay)},
      {"slo", {{"ttft_ms", s.slo.ttft_ms}, {"tpot_ms", s.slo.tpot_ms}}},
      {"good_requests", s.good},
      {"goodput", s.goodput},
      {"prefix_cache",
       {{"prompt_tokens", s.prompt_tokens},
        {"reused_tokens", s.reused_tokens},
        {"hit_ratio", s.hit_ratio},
        {"ceiling_token_ratio", s.ceiling.token_ratio()},
        {"ceiling_block_ratio", s.ceiling.block_ratio()},
        {"ceiling_tokens_seen_before", s.ceiling.tokens_seen_before},
        {"ceiling_tokens_total", s.ceiling.tokens_total},
        {"ceiling_blocks_seen_before", s.ceiling.blocks_seen_before},
        {"ceiling_blocks_total", s.ceiling.blocks_total}}},
  };
  return j;
}

std::string FormatServeTable(const ServeSummary& s) {
  std::string out = "\nServing benchmark\n";
  absl::StrAppendFormat(&out, "  %-28s %d (%d OK, %d short)\n", "Requests:", s.requests,
                        s.succeeded, s.short_streams);
  absl::StrAppendFormat(&out, "  %-28s %.2f s\n", "Duration:", s.duration_s);
  absl::StrAppendFormat(&out, "  %-28s %.2f req/s\n", "Request throughput:",
                        s.request_throughput);
  absl::StrAppendFormat(&out, "  %-28s %.1f tok/s\n", "Output token throughput:",
                        s.output_throughput);
  absl::StrAppendFormat(&out, "  %-28s %.1f tok/s\n", "Prompt token throughput:",
                        s.prompt_throughput);
  absl::StrAppendFormat(&out, "  %-28s %.2f req/s (%d good; TTFT <= %g ms, TPOT <= %g ms)\n",
                        "Goodput:", s.goodput, s.good, s.slo.ttft_ms, s.slo.tpot_ms);
  absl::StrAppendFormat(&out, "\n  %-14s %10s %10s %10s %10s\n", "ms", "mean", "p50", "p90",
                        "p99");
  for (const auto& [name, l] :
       {std::pair{"TTFT", &s.ttft}, std::pair{"TPOT", &s.tpot}, std::pair{"E2E", &s.e2e},
        std::pair{"Queue delay", &s.queue_delay}}) {
    absl::StrAppendFormat(&out, "  %-14s %10.2f %10.2f %10.2f %10.2f\n", name, l->mean_ns / 1e6,
                          l->p50_ns / 1e6, l->p90_ns / 1e6, l->p99_ns / 1e6);
  }
  absl::StrAppendFormat(&out, "\n  %-28s %.4f (%d / %d tokens)\n", "Prefix-cache hit ratio:",
                        s.hit_ratio, s.reused_tokens, s.prompt_tokens);
  absl::StrAppendFormat(&out, "  %-28s %.4f tokens, %.4f blocks\n", "Ceiling (unbounded cache):",
                        s.ceiling.token_ratio(), s.ceiling.block_ratio());
  out += "\n  Status codes:";
  for (const auto& [name, n] : s.status_code_distribution) {
    absl::StrAppendFormat(&out, " [%s] %d", name, n);
  }
  out += "\n";
  for (const auto& [error, n] : s.error_distribution) {
    absl::StrAppendFormat(&out, "  [%d] %s\n", n, error);
  }
  return out;
}

}  // namespace pdserve::bench
