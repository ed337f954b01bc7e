// decode_server: generates tokens for prefilled sequences with continuous batching, reading and
// appending K/V through the cache manager.
#include <cstdio>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "decoder/model.h"
#include "decoder/tokenizer.h"
#include "services/common/auth.h"
#include "services/common/health_watcher.h"
#include "services/common/server_flags.h"
#include "services/common/server_runner.h"
#include "services/common/shutdown_signal.h"
#include "services/decode/decode_scheduler.h"
#include "services/decode/decode_service.h"
#include "services/kv_client/kv_cache_client.h"

ABSL_FLAG(std::string, model, "synthetic:tiny", "model directory (Hugging Face layout) or name");
ABSL_FLAG(std::string, cache_manager, "127.0.0.1:50051", "kv_cache_manager host:port");
ABSL_FLAG(std::string, kv_fetch, "delta",
          "delta: keep full blocks already read, fetch only what is missing; full: re-read the "
          "whole cumulative K/V every step");
ABSL_FLAG(int, max_batch, 32, "sequences per decode step");
ABSL_FLAG(int, max_new_tokens_limit, 4096, "largest max_new_tokens a request may ask for");
ABSL_FLAG(int, model_threads, 0, "threads for the model's kernels; 0 = one per core");

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "decode_server: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  pdserve::common::BlockShutdownSignals();
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
  decoder::LoadOptions load;
  load.num_threads = absl::GetFlag(FLAGS_model_threads);
  auto model = decoder::Model::Load(absl::GetFlag(FLAGS_model), load);
  if (!model.ok()) return Fail(model.status());
  auto tokenizer = decoder::Tokenizer::Create(**model);
  if (!tokenizer.ok()) return Fail(tokenizer.status());

  kvclient::KvCacheClientOptions cache_options;
  cache_options.target = absl::GetFlag(FLAGS_cache_manager);
  cache_options.channel = common::ClientChannelOptionsFromFlags();
  cache_options.auth_token = absl::GetFlag(FLAGS_auth_token);
  auto cache = kvclient::KvCacheClient::Create(cache_options);
  if (!cache.ok()) return Fail(cache.status());

  common::MetricsRegistry metrics;
  decode::DecodeMetrics decode_metrics(&metrics);
  decode::DecodeSchedulerOptions options;
  options.model = model->get();
  options.tokenizer = tokenizer->get();
  options.cache = cache->get();
  options.model_aliases = {absl::GetFlag(FLAGS_model)};
  options.fetch = fetch == "full" ? decode::KvFetchMode::kFull : decode::KvFetchMode::kDelta;
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
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
  auto runner = common::ServerRunner::Start(
      common::ServerOptionsFromFlags("decode_server"),
      {{&service, inference::v1::Decode::service_full_name()}}, /*serving=*/false);
  if (!runner.ok()) return Fail(runner.status());

  auto metrics_server = common::StartMetricsFromFlags("decode_server", &metrics);
  if (!metrics_server.ok()) return Fail(metrics_server.status());
  common::HealthWatcher watcher([&] { return (*cache)->Healthy(absl::Seconds(1)); },
                                [&](bool up) { (*runner)->SetServing(up); }, absl::Seconds(1));
  (*runner)->RunUntilSignal();
  return 0;
}
