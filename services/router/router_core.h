// The router without gRPC: the pools, their backends and the factory of Generate calls.
#ifndef PDSERVE_SERVICES_ROUTER_ROUTER_CORE_H_
#define PDSERVE_SERVICES_ROUTER_ROUTER_CORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/common/metrics.h"
#include "services/router/backends.h"
#include "services/router/call_env.h"
#include "services/router/generate_call.h"
#include "services/router/instance_pool.h"
#include "services/router/model_info.h"
#include "services/router/router_metrics.h"
#include "services/router/router_options.h"

namespace pdserve::router {

// Downstream endpoints, one backend per pool member, in the order of the addresses.
struct RouterBackends {
  std::vector<std::string> prefill_addresses;
  std::vector<std::unique_ptr<PrefillBackend>> prefill;
  std::vector<std::string> decode_addresses;
  std::vector<std::unique_ptr<DecodeBackend>> decode;
  std::unique_ptr<CacheBackend> cache;
  std::unique_ptr<Scheduler> scheduler;
};

// Thread-safe. Owns the backends; the destructor waits (bounded) for every call to end, since
// calls point into this object.
class RouterCore {
 public:
  // REQUIRES: backends.prefill parallels prefill_addresses, decode parallels decode_addresses,
  // cache and scheduler are set. `registry` must outlive the core.
  RouterCore(RouterOptions options, ModelInfo model, RouterBackends backends,
             common::MetricsRegistry* registry);
  ~RouterCore();
  RouterCore(const RouterCore&) = delete;
  RouterCore& operator=(const RouterCore&) = delete;

  // Creates and starts a Generate call that writes to `sink` (which must stay valid until the
  // call's Finish). Keep the result to Cancel it. `deadline`: the client's (InfiniteFuture if
  // none).
  std::shared_ptr<GenerateCall> Generate(const inference::v1::GenerateRequest& request,
                                         absl::Time deadline, GenerateSink* sink);

  // True when at least one prefill and one decode member are healthy.
  bool Ready() const;
  InstancePool& prefill_pool() { return prefill_pool_; }
  InstancePool& decode_pool() { return decode_pool_; }
  const ModelInfo& model() const { return model_; }

 private:
  // Declared first so it is destroyed last: calls report to it from their destructors.
  CallTracker tracker_;
  const RouterOptions options_;
  const ModelInfo model_;
  RouterMetrics metrics_;
  RouterBackends backends_;
  InstancePool prefill_pool_;
  InstancePool decode_pool_;
  CallEnv env_;
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_ROUTER_CORE_H_
