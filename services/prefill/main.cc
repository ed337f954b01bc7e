// prefill_server: runs prompts through the model and writes their K/V to the cache manager.
#include <malloc.h>

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
#include "services/common/worker_pool.h"
#include "services/kv_client/kv_cache_client.h"
#include "services/prefill/prefill_core.h"
#include "services/prefill/prefill_service.h"

ABSL_FLAG(std::string, model, "synthetic:tiny", "model directory (Hugging Face layout) or name");
ABSL_FLAG(std::string, cache_manager, "127.0.0.1:50051", "kv_cache_manager host:port");
ABSL_FLAG(int, model_threads, 0, "threads for the model's kernels; 0 = one per core");

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "prefill_server: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  pdserve::common::BlockShutdownSignals();
  // Each request allocates K/V and prefix buffers sized by its prompt (up to megabytes). With
  // glibc's adaptive threshold those land in per-thread arenas and resident memory swings with
  // the mix of prompt lengths; a fixed threshold maps them and returns them on free.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  absl::SetProgramUsageMessage("prefill_server --model=DIR_OR_NAME --cache_manager=HOST:PORT");
  absl::ParseCommandLine(argc, argv);
  using namespace pdserve;  // NOLINT: main only

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

  prefill::PrefillCoreOptions core_options;
  core_options.model = model->get();
  core_options.tokenizer = tokenizer->get();
  core_options.cache = cache->get();
  core_options.model_aliases = {absl::GetFlag(FLAGS_model)};
  prefill::PrefillCore core(core_options);

  common::MetricsRegistry metrics;
  common::WorkerPool workers(common::WorkerThreadsFromFlags());
  common::TokenAuth auth(absl::GetFlag(FLAGS_auth_token));
  prefill::PrefillService service(&core, &workers, &auth, &metrics);

  auto runner = common::ServerRunner::Start(
      common::ServerOptionsFromFlags("prefill_server"),
      {{&service, inference::v1::Prefill::service_full_name()}}, /*serving=*/false);
  if (!runner.ok()) return Fail(runner.status());

  auto metrics_server = common::StartMetricsFromFlags("prefill_server", &metrics);
  if (!metrics_server.ok()) return Fail(metrics_server.status());
  // SERVING only while the cache manager answers.
  common::HealthWatcher watcher([&] { return (*cache)->Healthy(absl::Seconds(1)); },
                                [&](bool up) { (*runner)->SetServing(up); }, absl::Seconds(1));
  (*runner)->RunUntilSignal();
  return 0;
}
