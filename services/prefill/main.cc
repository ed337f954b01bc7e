// prefill_server: runs prompts through the model and writes their K/V to the cache manager.
#include <malloc.h>

#include <cstdio>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "services/common/build_info.h"
#include "services/common/auth.h"
#include "services/common/server_flags.h"
#include "services/common/server_process.h"
#include "services/common/worker_pool.h"
#include "services/model_server/model_server.h"
#include "services/prefill/prefill_core.h"
#include "services/prefill/prefill_service.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "prefill_server: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  pdserve::common::SetUpServerProcess();
  // Each request allocates K/V and prefix buffers sized by its prompt (up to megabytes). With
  // glibc's adaptive threshold those land in per-thread arenas and resident memory swings with
  // the mix of prompt lengths; a fixed threshold maps them and returns them on free.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  absl::SetProgramUsageMessage("prefill_server --model=DIR_OR_NAME --cache_manager=HOST:PORT");
  absl::ParseCommandLine(argc, argv);
  using namespace pdserve;  // NOLINT: main only

  auto host = model_server::LoadFromFlags();
  if (!host.ok()) return Fail(host.status());

  prefill::PrefillCoreOptions core_options;
  core_options.model = host->model.get();
  core_options.tokenizer = host->tokenizer.get();
  core_options.cache = host->cache.get();
  core_options.model_aliases = {host->model_alias};
  prefill::PrefillCore core(core_options);

  common::MetricsRegistry metrics;
  common::RegisterBuildInfo(&metrics);
  common::WorkerPool workers(common::WorkerThreadsFromFlags());
  common::TokenAuth auth(absl::GetFlag(FLAGS_auth_token));
  prefill::PrefillService service(&core, &workers, &auth, &metrics);

  absl::Status served = model_server::ServeUntilSignal(
      "prefill_server", {&service, inference::v1::Prefill::service_full_name()}, &metrics,
      host->cache.get());
  if (!served.ok()) return Fail(served);
  return 0;
}
