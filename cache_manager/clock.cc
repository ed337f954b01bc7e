// The real Clock.
#include "cache_manager/clock.h"

#include "absl/time/clock.h"

namespace pdserve::cache_manager {
namespace {

class RealClockImpl final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

}  // namespace

Clock* RealClock() {
  static Clock* const clock = new RealClockImpl();
  return clock;
}

}  // namespace pdserve::cache_manager
