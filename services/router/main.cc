// router_server: the front door. Generate = prefill on one pool member, decode on another.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/build_info.h"
#include "services/common/client_channel.h"
#include "services/common/metrics.h"
#include "services/common/server_flags.h"
#include "services/common/server_runner.h"
#include "services/common/server_process.h"
#include "services/router/grpc_backends.h"
#include "services/router/health_monitor.h"
#include "services/router/model_info.h"
#include "services/router/router_core.h"
#include "services/router/router_service.h"
#include "services/router/timer_thread.h"

ABSL_FLAG(std::string, prefill, "", "prefill servers, HOST:PORT[,HOST:PORT...]");
ABSL_FLAG(std::string, decode, "", "decode servers, HOST:PORT[,HOST:PORT...]");
ABSL_FLAG(std::string, cache_manager, "", "the KV cache manager, HOST:PORT");
ABSL_FLAG(std::string, model, "synthetic:tiny",
          "served model (synthetic:<name> or a Hugging Face directory); requests naming another "
          "model get NOT_FOUND");
ABSL_FLAG(uint32_t, max_new_tokens_limit, 4096, "largest limits.max_new_tokens accepted");
ABSL_FLAG(int, prefill_timeout_ms, 120000, "deadline of one Prefill call");
ABSL_FLAG(int, decode_timeout_s, 1800, "deadline of one Decode stream");
ABSL_FLAG(int, cache_timeout_ms, 5000, "deadline of GetSequence / ReleaseSequence");
ABSL_FLAG(int, max_recovery_retries, 20,
          "retries (decode failover, re-prefill, waiting for the manager) after the first token");
ABSL_FLAG(int, health_interval_ms, 500, "how often pool members are probed");

namespace pdserve::router {
namespace {

std::vector<std::string> SplitAddresses(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

int Main() {
  const std::vector<std::string> prefill = SplitAddresses(absl::GetFlag(FLAGS_prefill));
  const std::vector<std::string> decode = SplitAddresses(absl::GetFlag(FLAGS_decode));
  const std::string cache = absl::GetFlag(FLAGS_cache_manager);
  if (prefill.empty() || decode.empty() || cache.empty()) {
    std::fprintf(stderr, "router_server: --prefill, --decode and --cache_manager are required\n");
    return 2;
  }
  absl::StatusOr<ModelInfo> model = LoadModelInfo(absl::GetFlag(FLAGS_model));
  if (!model.ok()) {
    std::fprintf(stderr, "router_server: %s\n", model.status().ToString().c_str());
    return 1;
  }

  RouterOptions options;
  options.max_new_tokens_limit = absl::GetFlag(FLAGS_max_new_tokens_limit);
  options.prefill_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_prefill_timeout_ms));
  options.decode_timeout = absl::Seconds(absl::GetFlag(FLAGS_decode_timeout_s));
  options.cache_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_cache_timeout_ms));
  options.max_recovery_retries = absl::GetFlag(FLAGS_max_recovery_retries);

  const common::TokenAuth auth(absl::GetFlag(FLAGS_auth_token));
  const common::ChannelOptions channel_options = common::ClientChannelOptionsFromFlags();
  auto channel = [&](const std::string& target) -> std::shared_ptr<grpc::Channel> {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> made = common::MakeChannel(target,
                                                                              channel_options);
    if (!made.ok()) {
      std::fprintf(stderr, "router_server: %s: %s\n", target.c_str(),
                   made.status().ToString().c_str());
      return nullptr;
    }
    return *made;
  };

  RouterBackends backends;
  HealthTarget prefill_health{nullptr, {}, "pdserve.inference.v1.Prefill"};
  HealthTarget decode_health{nullptr, {}, "pdserve.inference.v1.Decode"};
  for (const std::string& address : prefill) {
    auto ch = channel(address);
    if (ch == nullptr) return 1;
    backends.prefill_addresses.push_back(address);
    backends.prefill.push_back(std::make_unique<GrpcPrefillBackend>(ch, &auth));
    prefill_health.channels.push_back(ch);
  }
  for (const std::string& address : decode) {
    auto ch = channel(address);
    if (ch == nullptr) return 1;
    backends.decode_addresses.push_back(address);
    backends.decode.push_back(std::make_unique<GrpcDecodeBackend>(ch, &auth));
    decode_health.channels.push_back(ch);
  }
  auto cache_channel = channel(cache);
  if (cache_channel == nullptr) return 1;
  backends.cache = std::make_unique<GrpcCacheBackend>(cache_channel, &auth);
  backends.scheduler = std::make_unique<TimerThread>();

  common::MetricsRegistry registry;
  common::RegisterBuildInfo(&registry);
  RouterCore core(options, *std::move(model), std::move(backends), &registry);
  RouterService service(&core, &auth);

  const common::ServerOptions server_options = common::ServerOptionsFromFlags("router_server");
  auto runner = common::ServerRunner::Start(
      server_options, {{&service, inference::v1::Router::service_full_name()}},
      /*serving=*/false);
  if (!runner.ok()) {
    std::fprintf(stderr, "router_server: %s\n", runner.status().ToString().c_str());
    return 1;
  }

  auto metrics_server = common::StartMetricsFromFlags("router_server", &registry);
  if (!metrics_server.ok()) {
    std::fprintf(stderr, "router_server: metrics: %s\n", metrics_server.status().ToString().c_str());
    return 1;
  }

  prefill_health.pool = &core.prefill_pool();
  decode_health.pool = &core.decode_pool();
  common::ServerRunner* server = runner->get();
  HealthMonitorOptions health_options;
  health_options.interval = absl::Milliseconds(absl::GetFlag(FLAGS_health_interval_ms));
  auto monitor = std::make_unique<HealthMonitor>(
      std::vector<HealthTarget>{prefill_health, decode_health}, &auth, health_options,
      [server, last = -1](bool ready) mutable {
        if (static_cast<int>(ready) == last) return;
        last = ready ? 1 : 0;
        server->SetServing(ready);
      });

  (*runner)->RunUntilSignal();
  monitor.reset();
  metrics_server->reset();
  runner->reset();
  return 0;  // the core waits for its calls as it goes
}

}  // namespace
}  // namespace pdserve::router

int main(int argc, char** argv) {
  pdserve::common::SetUpServerProcess();
  absl::SetProgramUsageMessage(
      "router_server --prefill=HOST:PORT[,...] --decode=HOST:PORT[,...] "
      "--cache_manager=HOST:PORT [--model=synthetic:tiny]");
  absl::ParseCommandLine(argc, argv);
  return pdserve::router::Main();
}
