// Least-loaded, health-aware choice among a pool's members.
#include "services/router/instance_pool.h"

#include <algorithm>
#include <limits>

#include "services/common/status_macros.h"

namespace pdserve::router {

InstancePool::InstancePool(std::vector<std::string> addresses)
    : addresses_(std::move(addresses)), members_(addresses_.size()) {}

absl::StatusOr<size_t> InstancePool::Acquire(absl::Span<const size_t> exclude) {
  absl::MutexLock lock(&mu_);
  const size_t n = members_.size();
  if (n == 0) return absl::UnavailableError("pool: no members configured");
  // Rank: 0 healthy and allowed, 1 unhealthy and allowed, 2 healthy excluded, 3 the rest.
  auto rank = [&](size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const bool excluded = std::find(exclude.begin(), exclude.end(), i) != exclude.end();
    return (excluded ? 2 : 0) + (members_[i].healthy ? 0 : 1);
  };
  size_t best = n;
  int best_rank = std::numeric_limits<int>::max();
  int best_load = std::numeric_limits<int>::max();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (next_ + k) % n;
    const int r = rank(i);
    if (r < best_rank || (r == best_rank && members_[i].in_flight < best_load)) {
      best = i;
      best_rank = r;
      best_load = members_[i].in_flight;
    }
  }
  PDSERVE_CHECK(best < n);
  next_ = (best + 1) % n;
  ++members_[best].in_flight;
  return best;
}

void InstancePool::Release(size_t index) {
  absl::MutexLock lock(&mu_);
  PDSERVE_CHECK(index < members_.size() && members_[index].in_flight > 0);
  --members_[index].in_flight;
}

void InstancePool::SetHealthy(size_t index, bool healthy) {
  absl::MutexLock lock(&mu_);
  PDSERVE_CHECK(index < members_.size());
  members_[index].healthy = healthy;
}

bool InstancePool::healthy(size_t index) const {
  absl::MutexLock lock(&mu_);
  return members_[index].healthy;
}

bool InstancePool::AnyHealthy() const {
  absl::MutexLock lock(&mu_);
  return std::any_of(members_.begin(), members_.end(), [](const Member& m) { return m.healthy; });
}

int InstancePool::in_flight(size_t index) const {
  absl::MutexLock lock(&mu_);
  return members_[index].in_flight;
}

}  // namespace pdserve::router
