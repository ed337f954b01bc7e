// `pdbench rpc`'s engine: drives a ghz config's load through gRPC's generic stub (unary,
// server-streaming and client-streaming calls) and collects one CallResult per call.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_RPC_RUNNER_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_RPC_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/bench/pdbench/call_result.h"
#include "tests/bench/pdbench/ghz_config.h"

namespace pdserve::bench {

struct RpcRunOptions {
  GhzConfig config;              // call, data, metadata, total/duration, rps, timeout, ...
  std::string target;            // "host:port"
  // Completion-queue threads driving the calls (each owns a queue); 0 = one per core. Never
  // more than the config's concurrency.
  int threads = 0;
  std::string responses_path;    // if set, every response message as one JSON line
  // Called about every 200 ms from the calling thread with (calls done, calls failed).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct RpcRunResult {
  std::vector<CallResult> calls;
  int64_t total_ns = 0;
  bool server_streaming = false;
  bool stopped_by_duration = false;
};

// Runs the load and blocks until every call has finished. Call failures are results, not
// errors; the returned status is INVALID_ARGUMENT / NOT_FOUND only for a bad config (unknown
// call, data that does not convert), or when the responses file cannot be opened.
absl::StatusOr<RpcRunResult> RunRpcLoad(const RpcRunOptions& options);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_RPC_RUNNER_H_
