// pdbench: `pdbench rpc` runs a ghz config's load with compiled-in descriptors and prints a ghz
// JSON summary; `pdbench serve` replays a conversation trace against the router.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "tests/bench/pdbench/commands.h"
#include "tests/bench/pdbench/ghz_config.h"

// Shared.
ABSL_FLAG(int64_t, concurrency, -1, "rpc: calls in flight (config's if unset); serve: streams "
                                    "in flight (default 16)");
ABSL_FLAG(std::string, timeout, "", "Per-call deadline, Go duration (rpc: config's or 20s; "
                                    "serve: 600s)");
ABSL_FLAG(std::string, output, "", "Write the JSON summary to this file");
// rpc.
ABSL_FLAG(std::string, config, "", "rpc: ghz JSON config file");
ABSL_FLAG(int64_t, total, -1, "rpc: number of calls (overrides the config)");
ABSL_FLAG(int64_t, connections, -1, "rpc: gRPC connections (overrides the config)");
ABSL_FLAG(int64_t, rps, -1, "rpc: rate limit in calls/s, 0 = none (overrides the config)");
ABSL_FLAG(std::string, duration, "",
          "rpc: run for this long instead of --total; serve: send nothing after this (Go duration)");
ABSL_FLAG(std::string, data, "", "rpc: request data JSON (overrides the config)");
ABSL_FLAG(std::string, data_file, "", "rpc: file holding the request data JSON");
ABSL_FLAG(std::string, metadata, "", "rpc: metadata JSON object (overrides the config)");
ABSL_FLAG(bool, insecure, false, "rpc: plaintext even if the config does not set insecure");
ABSL_FLAG(int, threads, 0, "rpc: completion-queue threads driving the calls (0 = one per core it may run on)");
ABSL_FLAG(bool, dry_run, false, "rpc: print the messages of calls 0 and 1 and exit");
ABSL_FLAG(std::string, responses, "", "rpc: write every response message as a JSON line");
ABSL_FLAG(std::string, expect_codes, "",
          "rpc: comma-separated status names (OK,NotFound,...); exit 3 on any other");
// serve.
ABSL_FLAG(std::string, trace, "", "serve: conversation trace (JSON lines)");
ABSL_FLAG(std::string, target, "", "serve: router HOST:PORT");
ABSL_FLAG(std::string, model, "",
          "serve: GenerateRequest.model (empty = served); verify: reference (synthetic:tiny)");
ABSL_FLAG(int, scale, 32, "serve: divide lengths by this; a 512-token block -> 512/scale tokens");
ABSL_FLAG(int, vocab, 512, "serve: token ids drawn from [3, vocab) (synthetic:tiny has 512)");
ABSL_FLAG(int, max_output, 64, "serve: cap on scaled output tokens per request");
ABSL_FLAG(int, max_prompt, 4000,
          "serve: cap on scaled prompt tokens (the model's context; synthetic:tiny has 4096)");
ABSL_FLAG(double, rate, 0, "serve: Poisson arrivals at this many requests/s (0 = trace times)");
ABSL_FLAG(double, time_scale, 1, "serve: divide trace timestamps by this (2 = twice as fast)");
ABSL_FLAG(int64_t, limit, 0, "serve: replay only the first N requests (0 = all)");
ABSL_FLAG(int, repeat, 1,
          "serve: replay the (limited) trace N times back to back, later rounds shifted in time "
          "(for sustained runs; repeats hit the prefix cache)");
ABSL_FLAG(double, ttft_slo_ms, 0, "serve: TTFT limit for goodput (0 = none)");
ABSL_FLAG(double, tpot_slo_ms, 0, "serve: time-per-output-token limit for goodput (0 = none)");
ABSL_FLAG(bool, json, false, "serve: print the JSON summary on stdout");
ABSL_FLAG(std::string, record, "",
          "serve: write one JSON line per request (prompt, tokens); verify: read it");
ABSL_FLAG(uint64_t, seed, 1, "serve: seed of the Poisson arrival generator");

namespace {

using ::pdserve::bench::ParseGoDuration;

constexpr char kUsage[] =
    "pdbench rpc --config FILE.json [--total N] [--concurrency C] [--connections K] "
    "[--output FILE] [HOST:PORT]\n"
    "pdbench serve --trace FILE --target HOST:PORT [--scale 32] [--rate R | --time_scale X] "
    "[--limit N] [--concurrency C] [--ttft_slo_ms MS] [--tpot_slo_ms MS] [--json] [--record F]\n"
    "pdbench verify --record F [--model synthetic:tiny] [--limit N]";

int Fail(const absl::Status& status) {
  std::cerr << "pdbench: " << status << "\n";
  return 2;
}

int Rpc(const std::vector<char*>& args) {
  pdserve::bench::RpcCommand c;
  c.config_path = absl::GetFlag(FLAGS_config);
  if (c.config_path.empty()) return Fail(absl::InvalidArgumentError("--config is required"));
  if (args.size() > 3) return Fail(absl::InvalidArgumentError("at most one HOST:PORT"));
  if (args.size() == 3) c.host = args[2];
  auto set_u64 = [](int64_t v, std::optional<uint64_t>* out) {
    if (v >= 0) *out = static_cast<uint64_t>(v);
  };
  set_u64(absl::GetFlag(FLAGS_total), &c.total);
  set_u64(absl::GetFlag(FLAGS_concurrency), &c.concurrency);
  set_u64(absl::GetFlag(FLAGS_connections), &c.connections);
  set_u64(absl::GetFlag(FLAGS_rps), &c.rps);
  for (auto [flag, out] : {std::pair{absl::GetFlag(FLAGS_duration), &c.duration},
                           std::pair{absl::GetFlag(FLAGS_timeout), &c.timeout}}) {
    if (flag.empty()) continue;
    absl::StatusOr<absl::Duration> d = ParseGoDuration(flag);
    if (!d.ok()) return Fail(d.status());
    *out = *d;
  }
  if (!absl::GetFlag(FLAGS_data).empty()) c.data = absl::GetFlag(FLAGS_data);
  if (!absl::GetFlag(FLAGS_data_file).empty()) c.data_file = absl::GetFlag(FLAGS_data_file);
  if (!absl::GetFlag(FLAGS_metadata).empty()) c.metadata = absl::GetFlag(FLAGS_metadata);
  c.insecure = absl::GetFlag(FLAGS_insecure);
  c.threads = absl::GetFlag(FLAGS_threads);
  c.dry_run = absl::GetFlag(FLAGS_dry_run);
  c.output = absl::GetFlag(FLAGS_output);
  c.responses = absl::GetFlag(FLAGS_responses);
  if (!absl::GetFlag(FLAGS_expect_codes).empty()) {
    c.expect_codes = absl::StrSplit(absl::GetFlag(FLAGS_expect_codes), ',', absl::SkipEmpty());
  }
  absl::StatusOr<int> code = pdserve::bench::RunRpcCommand(c);
  return code.ok() ? *code : Fail(code.status());
}

int Serve(const std::vector<char*>& args) {
  if (args.size() > 2) return Fail(absl::InvalidArgumentError("serve takes no positional args"));
  pdserve::bench::ServeCommand c;
  c.trace_path = absl::GetFlag(FLAGS_trace);
  if (c.trace_path.empty()) return Fail(absl::InvalidArgumentError("--trace is required"));
  c.target = absl::GetFlag(FLAGS_target);
  c.model = absl::GetFlag(FLAGS_model);
  c.scale = absl::GetFlag(FLAGS_scale);
  c.vocab = absl::GetFlag(FLAGS_vocab);
  c.max_output = absl::GetFlag(FLAGS_max_output);
  c.max_prompt = absl::GetFlag(FLAGS_max_prompt);
  c.rate = absl::GetFlag(FLAGS_rate);
  c.time_scale = absl::GetFlag(FLAGS_time_scale);
  c.limit = static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_limit)));
  c.repeat = std::max(1, absl::GetFlag(FLAGS_repeat));
  if (!absl::GetFlag(FLAGS_duration).empty()) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(absl::GetFlag(FLAGS_duration));
    if (!d.ok()) return Fail(d.status());
    c.duration = *d;
  }
  if (absl::GetFlag(FLAGS_concurrency) > 0) c.concurrency = absl::GetFlag(FLAGS_concurrency);
  if (!absl::GetFlag(FLAGS_timeout).empty()) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(absl::GetFlag(FLAGS_timeout));
    if (!d.ok()) return Fail(d.status());
    c.timeout = *d;
  }
  c.ttft_slo_ms = absl::GetFlag(FLAGS_ttft_slo_ms);
  c.tpot_slo_ms = absl::GetFlag(FLAGS_tpot_slo_ms);
  c.json = absl::GetFlag(FLAGS_json);
  c.output = absl::GetFlag(FLAGS_output);
  c.record = absl::GetFlag(FLAGS_record);
  c.seed = absl::GetFlag(FLAGS_seed);
  absl::StatusOr<int> code = pdserve::bench::RunServeCommand(c);
  return code.ok() ? *code : Fail(code.status());
}

int Verify() {
  pdserve::bench::VerifyCommand c;
  c.record_path = absl::GetFlag(FLAGS_record);
  if (c.record_path.empty()) return Fail(absl::InvalidArgumentError("--record is required"));
  if (!absl::GetFlag(FLAGS_model).empty()) c.model = absl::GetFlag(FLAGS_model);
  c.limit = absl::GetFlag(FLAGS_limit);
  absl::StatusOr<int> code = pdserve::bench::RunVerifyCommand(c);
  return code.ok() ? *code : Fail(code.status());
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built with Mutex deadlock detection on: every lock of every absl::Mutex,
  // gRPC's included, updates a global lock-order graph. A load generator pays that per call
  // (measured at 4 x 64 GetStats in flight: 35.5 -> 29 us of client CPU per call).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string mode = args.size() > 1 ? args[1] : "";
  if (mode == "rpc") return Rpc(args);
  if (mode == "serve") return Serve(args);
  if (mode == "verify") return Verify();
  std::cerr << "usage:\n" << kUsage << "\n";
  return 2;
}
