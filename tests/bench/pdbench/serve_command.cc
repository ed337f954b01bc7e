// `pdbench serve`: trace -> scaled requests + arrival schedule -> replay -> summary.
#include <fstream>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/bench/pdbench/call_result.h"
#include "tests/bench/pdbench/commands.h"
#include "tests/bench/pdbench/progress.h"
#include "tests/bench/pdbench/serve_report.h"
#include "tests/bench/pdbench/serve_runner.h"
#include "decoder/status_macros.h"
#include "tests/bench/pdbench/trace.h"

namespace pdserve::bench {
namespace {

absl::Status WriteRecord(const std::string& path, const std::vector<ScaledRequest>& requests,
                         const ServeRunResult& run) {
  std::ofstream out(path);
  if (!out) return absl::InvalidArgumentError(absl::StrCat("--record: cannot open ", path));
  for (const StreamOutcome& o : run.outcomes) {
    const ScaledRequest& r = requests[o.index];
    nlohmann::json j = {{"index", o.index},
                        {"seed", o.index},
                        {"prompt_token_ids", r.prompt},
                        {"max_new_tokens", r.output_tokens},
                        {"status", StatusCodeName(o.code)},
                        {"message", o.message},
                        {"token_ids", o.tokens},
                        {"reused_tokens", o.reused_tokens},
                        {"ttft_ns", o.ttft_ns},
                        {"e2e_ns", o.e2e_ns},
                        {"retry_hint", o.retry_hint}};
    out << j.dump() << "\n";
  }
  return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("--record: write failed"));
}

}  // namespace

absl::StatusOr<int> RunServeCommand(const ServeCommand& c) {
  if (c.target.empty()) return absl::InvalidArgumentError("--target is required");
  if (c.rate <= 0 && c.time_scale <= 0) {
    return absl::InvalidArgumentError("--time_scale must be > 0 when --rate is not set");
  }
  PDSERVE_ASSIGN_OR_RETURN(std::vector<TraceRequest> trace, LoadTrace(c.trace_path, c.limit));
  if (c.repeat > 1 && !trace.empty()) {
    // Later rounds start one millisecond after the previous round's last arrival.
    const size_t one_round = trace.size();
    const int64_t round_ms = trace.back().timestamp_ms - trace.front().timestamp_ms + 1;
    for (int k = 1; k < c.repeat; ++k) {
      for (size_t i = 0; i < one_round; ++i) {
        TraceRequest copy = trace[i];
        copy.timestamp_ms += k * round_ms;
        trace.push_back(std::move(copy));
      }
    }
  }
  ScaleOptions scale;
  scale.scale = c.scale;
  scale.vocab = c.vocab;
  scale.max_output = c.max_output;
  scale.max_prompt = c.max_prompt;
  std::vector<ScaledRequest> requests;
  for (const TraceRequest& r : trace) {
    PDSERVE_ASSIGN_OR_RETURN(ScaledRequest s, ScaleRequest(r, scale));
    requests.push_back(std::move(s));
  }
  const HitCeiling ceiling = ComputeHitCeiling(trace, scale);
  const std::vector<absl::Duration> arrivals = ArrivalOffsets(trace, c.rate, c.time_scale, c.seed);

  ServeOptions options;
  options.target = c.target;
  options.model = c.model;
  options.concurrency = c.concurrency;
  options.timeout = c.timeout;
  options.keep_tokens = !c.record.empty();
  options.duration = c.duration;
  ProgressLine progress;
  if (progress.enabled()) {
    options.progress = [&progress](int64_t done, int64_t failed, int64_t total) {
      progress.Update(done, failed, total);
    };
  }
  PDSERVE_ASSIGN_OR_RETURN(ServeRunResult run, RunServe(requests, arrivals, options));
  progress.Finish();

  const ServeSummary summary = SummarizeServe(run, Slo{c.ttft_slo_ms, c.tpot_slo_ms}, ceiling);
  std::cerr << FormatServeTable(summary);
  nlohmann::json json = ServeSummaryToJson(summary);
  json["settings"] = {{"trace", c.trace_path},   {"target", c.target},
                      {"scale", c.scale},        {"vocab", c.vocab},
                      {"max_output", c.max_output}, {"max_prompt", c.max_prompt},
                      {"rate", c.rate},          {"time_scale", c.time_scale},
                      {"limit", c.limit},        {"repeat", c.repeat},
                      {"concurrency", c.concurrency}};
  if (c.json) std::cout << json.dump(2) << std::endl;
  if (!c.output.empty()) {
    std::ofstream out(c.output);
    out << json.dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat("--output: cannot write ", c.output));
  }
  if (!c.record.empty()) PDSERVE_RETURN_IF_ERROR(WriteRecord(c.record, requests, run));
  return summary.succeeded > 0 ? 0 : 3;
}

}  // namespace pdserve::bench
