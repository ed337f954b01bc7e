// Wiring of the call environment and the bounded wait for calls at shutdown.
#include "services/router/router_core.h"

#include <cstdio>

#include "services/common/status_macros.h"

namespace pdserve::router {

RouterCore::RouterCore(RouterOptions options, ModelInfo model, RouterBackends backends,
                       common::MetricsRegistry* registry)
    : options_(std::move(options)),
      model_(std::move(model)),
      metrics_(registry),
      backends_(std::move(backends)),
      prefill_pool_(backends_.prefill_addresses),
      decode_pool_(backends_.decode_addresses) {
  PDSERVE_CHECK(backends_.prefill.size() == backends_.prefill_addresses.size());
  PDSERVE_CHECK(backends_.decode.size() == backends_.decode_addresses.size());
  PDSERVE_CHECK(backends_.cache != nullptr && backends_.scheduler != nullptr);
  env_.options = &options_;
  env_.model = &model_;
  env_.prefill_pool = &prefill_pool_;
  for (auto& backend : backends_.prefill) env_.prefill.push_back(backend.get());
  env_.decode_pool = &decode_pool_;
  for (auto& backend : backends_.decode) env_.decode.push_back(backend.get());
  env_.cache = backends_.cache.get();
  env_.scheduler = backends_.scheduler.get();
  env_.metrics = &metrics_;
  env_.tracker = &tracker_;
  registry->AddCallbackGauge("pdserve_router_prefill_members_healthy",
                             "Prefill pool members answering health SERVING", [this] {
                               double n = 0;
                               for (size_t i = 0; i < prefill_pool_.size(); ++i) {
                                 n += prefill_pool_.healthy(i) ? 1 : 0;
                               }
                               return n;
                             });
  registry->AddCallbackGauge("pdserve_router_decode_members_healthy",
                             "Decode pool members answering health SERVING", [this] {
                               double n = 0;
                               for (size_t i = 0; i < decode_pool_.size(); ++i) {
                                 n += decode_pool_.healthy(i) ? 1 : 0;
                               }
                               return n;
                             });
}

RouterCore::~RouterCore() {
  // Downstream calls all carry deadlines and are cancelled with their clients, so this wait
  // ends; the bound only guards against a peer that ignores both.
  if (!tracker_.WaitIdle(absl::Seconds(30))) {
    std::fprintf(stderr, "router: calls still alive at shutdown\n");
  }
  // Pending retries hold calls; dropping them first keeps the calls' pointers valid.
  backends_.scheduler.reset();
}

std::shared_ptr<GenerateCall> RouterCore::Generate(const inference::v1::GenerateRequest& request,
                                                   absl::Time deadline, GenerateSink* sink) {
  std::shared_ptr<GenerateCall> call = GenerateCall::Create(&env_, request, deadline, sink);
  call->Start();
  return call;
}

bool RouterCore::Ready() const {
  return prefill_pool_.AnyHealthy() && decode_pool_.AnyHealthy();
}

}  // namespace pdserve::router
