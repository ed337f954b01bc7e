// FakeClock: a manually advanced Clock for tests.
#ifndef PDSERVE_CACHE_MANAGER_FAKE_CLOCK_H_
#define PDSERVE_CACHE_MANAGER_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cache_manager/clock.h"
#include "cache_manager/mutex_lock.h"

namespace pdserve::cache_manager {

// A Clock that only moves when Advance() is called. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24)) : now_(start) {}

  absl::Time Now() override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_FAKE_CLOCK_H_
