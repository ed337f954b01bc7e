// The members of one pool (prefill or decode servers) with their health and in-flight calls,
// and the choice of the member for the next call.
#ifndef PDSERVE_SERVICES_ROUTER_INSTANCE_POOL_H_
#define PDSERVE_SERVICES_ROUTER_INSTANCE_POOL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace pdserve::router {

// Thread-safe. Members are fixed at construction and addressed by index.
//
// Selection: least-loaded among the healthy members not excluded by the caller, ties broken
// round robin. A member is only chosen while unhealthy or excluded when no other member exists,
// so a request still gets an answer (maybe UNAVAILABLE) while the whole pool is down. Prefix-
// aware placement is pointless here: every member reads cached prefixes from the one shared
// cache manager, so no member holds more of a prefix than another.
class InstancePool {
 public:
  explicit InstancePool(std::vector<std::string> addresses);

  size_t size() const { return addresses_.size(); }
  const std::string& address(size_t index) const { return addresses_[index]; }

  // Chooses a member and counts one more call in flight on it (give it back with Release).
  // UNAVAILABLE when the pool is empty.
  absl::StatusOr<size_t> Acquire(absl::Span<const size_t> exclude) ABSL_LOCKS_EXCLUDED(mu_);
  void Release(size_t index) ABSL_LOCKS_EXCLUDED(mu_);

  // Members start unhealthy until a probe says otherwise.
  void SetHealthy(size_t index, bool healthy) ABSL_LOCKS_EXCLUDED(mu_);
  bool healthy(size_t index) const ABSL_LOCKS_EXCLUDED(mu_);
  bool AnyHealthy() const ABSL_LOCKS_EXCLUDED(mu_);
  int in_flight(size_t index) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Member {
    bool healthy = false;
    int in_flight = 0;
  };

  // Constant after construction.
  const std::vector<std::string> addresses_;

  mutable absl::Mutex mu_;
  std::vector<Member> members_ ABSL_GUARDED_BY(mu_);  // parallel to addresses_
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;              // round-robin start for tie-breaking
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_INSTANCE_POOL_H_
