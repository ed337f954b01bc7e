// `pdbench serve`'s engine: replays scaled trace requests against the router's Generate stream
// on a fixed arrival schedule with bounded concurrency, timing each stream.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_SERVE_RUNNER_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_SERVE_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/bench/pdbench/trace.h"

namespace pdserve::bench {

struct ServeOptions {
  std::string target;     // the router, "host:port"
  std::string model;      // GenerateRequest.model; empty = the served model
  int concurrency = 16;   // streams in flight at most; later arrivals wait for a slot
  absl::Duration timeout = absl::Seconds(600);  // deadline of each stream
  bool keep_tokens = false;                     // keep every stream's generated ids
  // No request is sent later than this after the start (the rest are left out of the run).
  absl::Duration duration = absl::InfiniteDuration();
  // Called about every 200 ms from the calling thread with (finished, failed, total).
  std::function<void(int64_t, int64_t, int64_t)> progress;
};

struct StreamOutcome {
  int code = 0;                 // grpc::StatusCode of the stream
  std::string message;
  int64_t queue_delay_ns = 0;   // scheduled arrival to actual send (client-side wait)
  int64_t ttft_ns = -1;         // send to first message carrying a token
  int64_t e2e_ns = 0;           // send to end of stream
  int64_t prompt_tokens = 0;    // as sent
  int64_t output_tokens = 0;    // token ids received
  int64_t expected_output = 0;  // max_new_tokens asked for
  bool has_usage = false;       // the final message carried usage
  int64_t reused_tokens = 0;    // usage.reused_tokens
  std::vector<int32_t> tokens;  // only with keep_tokens
  bool retry_hint = false;      // trailers carried grpc-retry-pushback-ms
  int64_t index = 0;            // position of the request in the replayed list (= its seed)
};

struct ServeRunResult {
  std::vector<StreamOutcome> outcomes;  // in request order, only the requests sent
  int64_t duration_ns = 0;              // first send to last stream end
};

// Sends request i at `arrivals[i]` after the start (or as soon as a slot frees), greedy
// sampling with seed i, ignore_eos and max_new_tokens = output_tokens, so each stream should
// produce exactly output_tokens tokens. Stream failures are outcomes; the status is
// INVALID_ARGUMENT only for mismatched inputs.
absl::StatusOr<ServeRunResult> RunServe(const std::vector<ScaledRequest>& requests,
                                        const std::vector<absl::Duration>& arrivals,
                                        const ServeOptions& options);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_SERVE_RUNNER_H_
