// A ghz run configuration (the JSON file ghz reads with --config), parsed with ghz's keys and
// defaults so that ghz and `pdbench rpc` run the same load from the same file.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_GHZ_CONFIG_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_GHZ_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace pdserve::bench {

struct GhzConfig {
  std::string name;
  std::string call;  // "package.Service.Method" or "package.Service/Method"
  std::string host;  // "host:port"; empty if the file has none
  std::string proto;
  std::vector<std::string> import_paths;
  bool insecure = false;
  nlohmann::json data;      // object, or array (unary: round robin; client streaming: messages)
  nlohmann::json metadata;  // object of string -> string, or null
  uint64_t total = 200;     // ghz's defaults
  uint64_t concurrency = 50;
  uint64_t connections = 1;
  uint64_t rps = 0;                                 // 0 = unthrottled
  absl::Duration duration = absl::ZeroDuration();   // non-zero overrides total
  absl::Duration timeout = absl::Seconds(20);
};

// Parses Go duration syntax ("20s", "1m30s", "250ms", "0").
absl::StatusOr<absl::Duration> ParseGoDuration(const std::string& text);

// INVALID_ARGUMENT naming the key for a malformed file, a missing `call`, a bad duration, or
// `data` that is neither an object nor a non-empty array of objects. Unknown keys are ignored,
// as ghz ignores them.
absl::StatusOr<GhzConfig> ParseGhzConfig(const std::string& json_text);

// Reads and parses the file at `path` (NOT_FOUND if it cannot be read).
absl::StatusOr<GhzConfig> LoadGhzConfig(const std::string& path);

// "pkg.Service.Method" or "pkg.Service/Method" -> {"pkg.Service", "Method"}.
absl::StatusOr<std::pair<std::string, std::string>> SplitCallName(const std::string& call);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_GHZ_CONFIG_H_
