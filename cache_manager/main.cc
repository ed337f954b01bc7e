// kv_cache_manager: holds the K/V of live sequences and cached prefixes for prefill and decode.
#include <cstdio>
#include <memory>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "cache_manager/bulk_malloc.h"
#include "cache_manager/kv_cache_manager.h"
#include "cache_manager/kv_cache_service.h"
#include "cache_manager/size_flag.h"
#include "cache_manager/stats_metrics.h"
#include "services/common/build_info.h"
#include "services/common/auth.h"
#include "services/common/server_flags.h"
#include "services/common/server_runner.h"
#include "services/common/server_process.h"

ABSL_FLAG(std::string, capacity, "1GiB", "K/V pool size: bytes, or with KiB/MiB/GiB (or KB/MB/GB)");
ABSL_FLAG(int, block_size, 16, "tokens per block");
ABSL_FLAG(int, lease_ttl_ms, 60000, "default lease: idle time before a sequence is released");
ABSL_FLAG(int, max_sequences, 65536, "live sequences at most");

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "kv_cache_manager: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  pdserve::common::SetUpServerProcess();
  pdserve::cache_manager::UseBulkTransferMalloc();
  absl::SetProgramUsageMessage("kv_cache_manager --capacity=4GiB [--block_size=16]");
  absl::ParseCommandLine(argc, argv);
  using namespace pdserve;  // NOLINT: main only

  absl::StatusOr<uint64_t> capacity = cache_manager::ParseByteSize(absl::GetFlag(FLAGS_capacity));
  if (!capacity.ok()) return Fail(capacity.status());
  if (absl::GetFlag(FLAGS_block_size) < 1 || absl::GetFlag(FLAGS_lease_ttl_ms) < 1 ||
      absl::GetFlag(FLAGS_max_sequences) < 1) {
    return Fail(absl::InvalidArgumentError(
        "block_size, lease_ttl_ms and max_sequences must each be >= 1"));
  }
  cache_manager::KvCacheManagerOptions options;
  options.capacity_bytes = *capacity;
  options.block_size = static_cast<uint32_t>(absl::GetFlag(FLAGS_block_size));
  options.default_lease_ttl = absl::Milliseconds(absl::GetFlag(FLAGS_lease_ttl_ms));
  options.max_sequences = static_cast<uint64_t>(absl::GetFlag(FLAGS_max_sequences));
  auto manager = cache_manager::KvCacheManager::Create(options);
  if (!manager.ok()) return Fail(manager.status());

  common::MetricsRegistry metrics;
  common::RegisterBuildInfo(&metrics);
  cache_manager::RegisterStatsMetrics(manager->get(), &metrics);
  common::TokenAuth auth(absl::GetFlag(FLAGS_auth_token));
  cache_manager::KvCacheServiceOptions service_options;
  service_options.manager = manager->get();
  service_options.auth = &auth;
  service_options.metrics = &metrics;
  cache_manager::KvCacheService service(service_options);

  auto runner = common::ServerRunner::Start(
      common::ServerOptionsFromFlags("kv_cache_manager"),
      {{&service, kvcache::v1::KvCache::service_full_name()}}, /*serving=*/true);
  if (!runner.ok()) return Fail(runner.status());
  auto metrics_server = common::StartMetricsFromFlags("kv_cache_manager", &metrics);
  if (!metrics_server.ok()) return Fail(metrics_server.status());

  // Releases sequences whose lease expired (abandoned by their clients).
  absl::Notification stop;
  std::thread reaper([&] {
    while (!stop.WaitForNotificationWithTimeout(absl::Milliseconds(250))) {
      (*manager)->ReapExpired();
    }
  });
  (*runner)->RunUntilSignal();
  stop.Notify();
  reaper.join();
  return 0;
}
