// Clock: the time source of leases, injectable so tests use a FakeClock instead of sleeping.
#ifndef PDSERVE_CACHE_MANAGER_CLOCK_H_
#define PDSERVE_CACHE_MANAGER_CLOCK_H_

#include "absl/time/time.h"

namespace pdserve::cache_manager {

// A source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// The process's wall clock. Never null, never deleted. Thread-safe.
Clock* RealClock();

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_CLOCK_H_
