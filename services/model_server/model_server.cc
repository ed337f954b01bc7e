// Start-up and serving shared by prefill_server and decode_server.
#include "services/model_server/model_server.h"

#include "absl/flags/flag.h"
#include "decoder/status_macros.h"
#include "services/common/health_watcher.h"
#include "services/common/server_flags.h"

ABSL_FLAG(std::string, model, "synthetic:tiny", "model directory (Hugging Face layout) or name");
ABSL_FLAG(std::string, cache_manager, "127.0.0.1:50051", "kv_cache_manager host:port");
ABSL_FLAG(int, model_threads, 0, "threads for the model's kernels; 0 = one per core");

namespace pdserve::model_server {

absl::StatusOr<ModelHost> LoadFromFlags() {
  ModelHost host;
  host.model_alias = absl::GetFlag(FLAGS_model);
  decoder::LoadOptions load;
  load.num_threads = absl::GetFlag(FLAGS_model_threads);
  PDSERVE_ASSIGN_OR_RETURN(host.model, decoder::Model::Load(host.model_alias, load));
  PDSERVE_ASSIGN_OR_RETURN(host.tokenizer, decoder::Tokenizer::Create(*host.model));
  kvclient::KvCacheClientOptions cache_options;
  cache_options.target = absl::GetFlag(FLAGS_cache_manager);
  cache_options.channel = common::ClientChannelOptionsFromFlags();
  cache_options.auth_token = absl::GetFlag(FLAGS_auth_token);
  PDSERVE_ASSIGN_OR_RETURN(host.cache, kvclient::KvCacheClient::Create(cache_options));
  return host;
}

absl::Status ServeUntilSignal(const std::string& binary_name, const common::ServiceEntry& service,
                              const common::MetricsRegistry* metrics,
                              kvclient::KvCacheClient* cache) {
  PDSERVE_ASSIGN_OR_RETURN(std::unique_ptr<common::ServerRunner> runner,
                           common::ServerRunner::Start(common::ServerOptionsFromFlags(binary_name),
                                                       {service}, /*serving=*/false));
  PDSERVE_ASSIGN_OR_RETURN(auto metrics_server, common::StartMetricsFromFlags(binary_name, metrics));
  common::HealthWatcher watcher([cache] { return cache->Healthy(absl::Seconds(1)); },
                                [&runner](bool up) { runner->SetServing(up); }, absl::Seconds(1));
  runner->RunUntilSignal();
  return absl::OkStatus();
}

}  // namespace pdserve::model_server
