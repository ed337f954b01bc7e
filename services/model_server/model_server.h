// Start-up and serving shared by prefill_server and decode_server: both load the model, its
// tokenizer and a cache manager client from the same flags, and serve only while the cache
// manager answers.
#ifndef PDSERVE_SERVICES_MODEL_SERVER_MODEL_SERVER_H_
#define PDSERVE_SERVICES_MODEL_SERVER_MODEL_SERVER_H_

#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "decoder/model.h"
#include "decoder/tokenizer.h"
#include "services/common/metrics.h"
#include "services/common/server_runner.h"
#include "services/kv_client/kv_cache_client.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, cache_manager);
ABSL_DECLARE_FLAG(int, model_threads);

namespace pdserve::model_server {

struct ModelHost {
  std::unique_ptr<decoder::Model> model;
  std::unique_ptr<decoder::Tokenizer> tokenizer;
  std::unique_ptr<kvclient::KvCacheClient> cache;
  std::string model_alias;  // --model as given: requests may name the model this way
};

// Loads --model with --model_threads kernel threads and connects to --cache_manager with the
// shared TLS and --auth_token flags.
absl::StatusOr<ModelHost> LoadFromFlags();

// Serves `service` with the shared server flags until SIGTERM or SIGINT: Prometheus `metrics`
// on --metrics_port when set; health SERVING only while `cache` answers.
absl::Status ServeUntilSignal(const std::string& binary_name, const common::ServiceEntry& service,
                              const common::MetricsRegistry* metrics,
                              kvclient::KvCacheClient* cache);

}  // namespace pdserve::model_server

#endif  // PDSERVE_SERVICES_MODEL_SERVER_MODEL_SERVER_H_
