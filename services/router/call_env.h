// What every GenerateCall shares: options, model facts, the pools and their backends, the
// cache manager, the retry timer, metrics, and the count of calls still alive.
#ifndef PDSERVE_SERVICES_ROUTER_CALL_ENV_H_
#define PDSERVE_SERVICES_ROUTER_CALL_ENV_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/backends.h"
#include "services/router/instance_pool.h"
#include "services/router/model_info.h"
#include "services/router/router_metrics.h"
#include "services/router/router_options.h"

namespace pdserve::router {

// Thread-safe. Counts live calls so their owner can wait for the last one before tearing down
// what they point to.
class CallTracker {
 public:
  void Add() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++live_;
  }
  void Remove() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --live_;
  }
  // True when no call is alive, false if some still are after `timeout`.
  bool WaitIdle(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_ == 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
  }

 private:
  absl::Mutex mu_;
  int live_ ABSL_GUARDED_BY(mu_) = 0;
};

// Not owned; everything must outlive every call (see CallTracker). prefill[i] is the backend of
// prefill_pool member i, and likewise for decode.
struct CallEnv {
  const RouterOptions* options = nullptr;
  const ModelInfo* model = nullptr;
  InstancePool* prefill_pool = nullptr;
  std::vector<PrefillBackend*> prefill;
  InstancePool* decode_pool = nullptr;
  std::vector<DecodeBackend*> decode;
  CacheBackend* cache = nullptr;
  Scheduler* scheduler = nullptr;
  RouterMetrics* metrics = nullptr;
  CallTracker* tracker = nullptr;
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_CALL_ENV_H_
