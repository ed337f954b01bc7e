// `pdbench rpc`: ghz config + overrides -> load run -> ghz JSON summary and a table.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/bench/pdbench/commands.h"
#include "tests/bench/pdbench/ghz_report.h"
#include "tests/bench/pdbench/progress.h"
#include "tests/bench/pdbench/request_builder.h"
#include "tests/bench/pdbench/rpc_runner.h"
#include "decoder/status_macros.h"

namespace pdserve::bench {
namespace {

absl::StatusOr<nlohmann::json> ParseJsonFlag(const std::string& flag, const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(flag, ": not JSON"));
  return j;
}

absl::StatusOr<GhzConfig> ResolveConfig(const RpcCommand& c) {
  PDSERVE_ASSIGN_OR_RETURN(GhzConfig config, LoadGhzConfig(c.config_path));
  if (!c.host.empty()) config.host = c.host;
  if (c.total) config.total = *c.total;
  if (c.concurrency) config.concurrency = *c.concurrency;
  if (c.connections) config.connections = *c.connections;
  if (c.rps) config.rps = *c.rps;
  if (c.duration) config.duration = *c.duration;
  if (c.timeout) config.timeout = *c.timeout;
  if (c.insecure) config.insecure = true;
  if (c.data) {
    PDSERVE_ASSIGN_OR_RETURN(config.data, ParseJsonFlag("--data", *c.data));
  }
  if (c.data_file) {
    std::ifstream in(*c.data_file);
    if (!in) return absl::NotFoundError(absl::StrCat("--data_file: cannot read ", *c.data_file));
    std::stringstream text;
    text << in.rdbuf();
    PDSERVE_ASSIGN_OR_RETURN(config.data, ParseJsonFlag("--data_file", text.str()));
  }
  if (c.metadata) {
    PDSERVE_ASSIGN_OR_RETURN(config.metadata, ParseJsonFlag("--metadata", *c.metadata));
  }
  // Re-validate the merged settings through the same parser the file went through.
  nlohmann::json merged = {{"call", config.call}, {"data", config.data},
                           {"concurrency", config.concurrency},
                           {"connections", config.connections}};
  if (!config.metadata.is_null()) merged["metadata"] = config.metadata;
  PDSERVE_ASSIGN_OR_RETURN(GhzConfig checked, ParseGhzConfig(merged.dump()));
  (void)checked;
  if (config.host.empty()) {
    return absl::InvalidArgumentError("no target: give HOST:PORT or \"host\" in the config");
  }
  return config;
}

// Prints the messages of calls 0 and 1 as JSON lines: checks a config without a server.
absl::Status DryRun(const GhzConfig& config) {
  PDSERVE_ASSIGN_OR_RETURN(const google::protobuf::MethodDescriptor* method,
                           FindMethod(config.call));
  PDSERVE_ASSIGN_OR_RETURN(RequestBuilder builder, RequestBuilder::Create(config, method));
  for (int64_t n = 0; n < 2; ++n) {
    PDSERVE_ASSIGN_OR_RETURN(std::vector<std::string> messages, builder.Build(n, "g0c0"));
    for (const std::string& m : messages) {
      PDSERVE_ASSIGN_OR_RETURN(std::string json, MessageBytesToJson(*method->input_type(), m));
      std::cout << json << "\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> RunRpcCommand(const RpcCommand& c) {
  if (c.dry_run) {
    RpcCommand without_host = c;
    if (without_host.host.empty()) without_host.host = "dry-run";
    PDSERVE_ASSIGN_OR_RETURN(GhzConfig config, ResolveConfig(without_host));
    PDSERVE_RETURN_IF_ERROR(DryRun(config));
    return 0;
  }
  PDSERVE_ASSIGN_OR_RETURN(GhzConfig config, ResolveConfig(c));
  RpcRunOptions options;
  options.config = config;
  options.target = config.host;
  options.threads = c.threads;
  options.responses_path = c.responses;
  ProgressLine progress;
  const int64_t total =
      config.duration > absl::ZeroDuration() ? 0 : static_cast<int64_t>(config.total);
  if (progress.enabled()) {
    options.progress = [&progress, total](uint64_t done, uint64_t failed) {
      progress.Update(done, failed, total);
    };
  }
  PDSERVE_ASSIGN_OR_RETURN(RpcRunResult run, RunRpcLoad(options));
  progress.Finish();

  GhzReport report = BuildGhzReport(run.calls, run.total_ns, run.server_streaming);
  if (run.stopped_by_duration) report.end_reason = "timeout";
  ReportOptions echo;
  echo.name = config.name;
  echo.host = config.host;
  echo.call = config.call;
  echo.proto = config.proto;
  echo.import_paths = config.import_paths;
  echo.insecure = config.insecure;
  echo.total = config.total;
  echo.concurrency = config.concurrency;
  echo.connections = config.connections;
  echo.rps = config.rps;
  echo.duration_ns = absl::ToInt64Nanoseconds(config.duration);
  echo.timeout_ns = absl::ToInt64Nanoseconds(config.timeout);
  echo.data = config.data;
  echo.metadata = config.metadata;

  std::cerr << FormatGhzReportTable(report, echo);
  const std::string json = GhzReportToJson(report, echo).dump(2);
  if (c.output.empty()) {
    std::cout << json << std::endl;
  } else {
    std::ofstream out(c.output);
    out << json << "\n";
    if (!out) return absl::InternalError(absl::StrCat("--output: cannot write ", c.output));
  }

  if (!c.expect_codes.empty()) {
    std::vector<std::string> unexpected;
    for (const auto& [name, n] : report.status_code_distribution) {
      if (std::find(c.expect_codes.begin(), c.expect_codes.end(), name) == c.expect_codes.end()) {
        unexpected.push_back(absl::StrCat(name, "=", n));
      }
    }
    if (!unexpected.empty()) {
      std::cerr << "pdbench: unexpected status codes: " << absl::StrJoin(unexpected, ", ")
                << " (expected " << absl::StrJoin(c.expect_codes, ",") << ")\n";
      return 3;
    }
  }
  return 0;
}

}  // namespace pdserve::bench
