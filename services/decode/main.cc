// decode_server: generates tokens for prefilled sequences with continuous batching, reading and
// appending K/V through the cache manager.
#include <cstdio>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "services/common/build_info.h"
#include "services/common/auth.h"
#include "services/common/server_flags.h"
#include "services/common/server_process.h"
#include "services/decode/decode_scheduler.h"
#include "services/decode/decode_service.h"
#include "services/model_server/model_server.h"

ABSL_FLAG(std::string, kv_fetch, "delta",
          "delta: keep full blocks already read, fetch only what is missing; full: re-read the "
          "whole cumulative K/V every step");
ABSL_FLAG(int, max_batch, 32, "sequences per decode step");
ABSL_FLAG(int, max_new_tokens_limit, 4096, "largest max_new_tokens a request may ask for");
ABSL_FLAG(int, max_admissions, 4,
          "sequences admitted at once (GetSequence + ReadKv of the prefix, off the step loop); "
          "admission runs this many sequences ahead of the batch");

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "decode_server: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  pdserve::common::SetUpServerProcess();
  absl::SetProgramUsageMessage(
      "decode_server --model=DIR_OR_NAME --cache_manager=HOST:PORT [--kv_fetch=delta|full]");
  absl::ParseCommandLine(argc, argv);
  using namespace pdserve;  // NOLINT: main only

  const std::string fetch = absl::GetFlag(FLAGS_kv_fetch);
  if (fetch != "delta" && fetch != "full") {
    return Fail(absl::InvalidArgumentError("kv_fetch: '" + fetch + "' is not delta or full"));
  }
  if (absl::GetFlag(FLAGS_max_batch) < 1) {
    return Fail(absl::InvalidArgumentError("max_batch: must be >= 1"));
  }
  if (absl::GetFlag(FLAGS_max_admissions) < 1) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("max_admissions: ", absl::GetFlag(FLAGS_max_admissions), " is not >= 1")));
  }
  auto host = model_server::LoadFromFlags();
  if (!host.ok()) return Fail(host.status());

  common::MetricsRegistry metrics;
  common::RegisterBuildInfo(&metrics);
  decode::DecodeMetrics decode_metrics(&metrics);
  decode::DecodeSchedulerOptions options;
  options.model = host->model.get();
  options.tokenizer = host->tokenizer.get();
  options.cache = host->cache.get();
  options.model_aliases = {host->model_alias};
  options.fetch = fetch == "full" ? decode::KvFetchMode::kFull : decode::KvFetchMode::kDelta;
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  options.max_admissions = absl::GetFlag(FLAGS_max_admissions);
  options.max_new_tokens_limit = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_new_tokens_limit));
  options.on_step = [&decode_metrics](int batch, absl::Duration step) {
    decode_metrics.batch_size->Observe(batch);
    decode_metrics.step_seconds->Observe(absl::ToDoubleSeconds(step));
  };
  decode::DecodeScheduler scheduler(options);
  metrics.AddCallbackGauge("pdserve_decode_active_sequences", "Sequences queued or decoding",
                           [&scheduler] { return scheduler.active(); });

  common::TokenAuth auth(absl::GetFlag(FLAGS_auth_token));
  decode::DecodeService service(&scheduler, &auth, &decode_metrics);
  absl::Status served = model_server::ServeUntilSignal(
      "decode_server", {&service, inference::v1::Decode::service_full_name()}, &metrics,
      host->cache.get());
  if (!served.ok()) return Fail(served);
  return 0;
}
