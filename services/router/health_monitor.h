// Probes every pool member with grpc.health.v1 in the background and keeps the pools' health
// flags (and the router's own serving status) current.
#ifndef PDSERVE_SERVICES_ROUTER_HEALTH_MONITOR_H_
#define PDSERVE_SERVICES_ROUTER_HEALTH_MONITOR_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/auth.h"
#include "services/router/instance_pool.h"

namespace pdserve::router {

struct HealthTarget {
  InstancePool* pool;                      // not owned
  std::vector<std::shared_ptr<grpc::Channel>> channels;  // one per pool member
  std::string service;                     // e.g. "pdserve.inference.v1.Prefill"
};

struct HealthMonitorOptions {
  absl::Duration interval = absl::Milliseconds(500);
  absl::Duration probe_timeout = absl::Seconds(1);
};

// Thread-safe. Runs one thread of its own, where the probes block (never on gRPC threads).
class HealthMonitor {
 public:
  // `on_round(ready)` runs on the monitor's thread after each round of probes, `ready` being
  // true when every target has at least one healthy member. Targets and `auth` must outlive
  // the monitor.
  HealthMonitor(std::vector<HealthTarget> targets, const common::TokenAuth* auth,
                HealthMonitorOptions options, std::function<void(bool ready)> on_round);
  ~HealthMonitor();  // stops and joins the thread

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  bool Probe(grpc::health::v1::Health::Stub* stub, const std::string& service) const;

  // Constant after construction.
  const std::vector<HealthTarget> targets_;
  const common::TokenAuth* const auth_;
  const HealthMonitorOptions options_;
  const std::function<void(bool)> on_round_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started last
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_HEALTH_MONITOR_H_
