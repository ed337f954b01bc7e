// The two pdbench subcommands, with their command-line settings already parsed.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_COMMANDS_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pdserve::bench {

// `pdbench rpc`: flags override the config file, as ghz's do; unset ones are nullopt.
struct RpcCommand {
  std::string config_path;
  std::string host;  // positional HOST:PORT, else the file's "host"
  std::optional<uint64_t> total, concurrency, connections, rps;
  std::optional<absl::Duration> duration, timeout;
  std::optional<std::string> data;       // JSON, replaces the file's "data"
  std::optional<std::string> data_file;  // file holding that JSON
  std::optional<std::string> metadata;   // JSON object, replaces the file's "metadata"
  bool insecure = false;                 // force plaintext even if the file does not say so
  int threads = 0;                       // 0 = one per core
  bool dry_run = false;                  // print calls 0 and 1 as JSON, connect to nothing
  std::string output;                    // JSON summary path; empty = stdout
  std::string responses;                 // response messages as JSON lines
  std::vector<std::string> expect_codes; // e.g. {"OK", "NotFound"}; empty = no check
};

// Runs the load, prints the table to stderr and the ghz JSON to stdout or `output`. Returns the
// process exit code: 0, or 3 if a call ended with a code outside `expect_codes`.
absl::StatusOr<int> RunRpcCommand(const RpcCommand& command);

struct ServeCommand {
  std::string trace_path;
  std::string target;
  std::string model;
  int scale = 32;
  int vocab = 512;
  int max_output = 64;
  int max_prompt = 4000;  // synthetic:tiny's context is 4096 positions
  double rate = 0;        // Poisson requests/s; 0 = trace timestamps / time_scale
  double time_scale = 1;
  size_t limit = 0;       // first N requests; 0 = all
  int repeat = 1;         // replay the (limited) trace this many times back to back
  absl::Duration duration = absl::InfiniteDuration();  // send nothing after this
  int concurrency = 16;
  absl::Duration timeout = absl::Seconds(600);
  double ttft_slo_ms = 0;
  double tpot_slo_ms = 0;
  bool json = false;      // JSON summary on stdout (table still on stderr)
  std::string output;     // JSON summary path
  std::string record;     // one JSON line per request: prompt, tokens, status, timings
  uint64_t seed = 1;
};

// Returns 0, or 3 when no request succeeded.
absl::StatusOr<int> RunServeCommand(const ServeCommand& command);

// `pdbench verify`: replays the OK streams of a `serve --record` file through the in-process
// reference decoder.
struct VerifyCommand {
  std::string record_path;
  std::string model = "synthetic:tiny";
  int64_t limit = 0;  // check at most this many OK streams; 0 = all
};

// Prints {"checked", "mismatched", "skipped_failed"}; returns 0, or 3 on any mismatch.
absl::StatusOr<int> RunVerifyCommand(const VerifyCommand& command);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_COMMANDS_H_
