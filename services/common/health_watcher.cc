// Background dependency health checks.
#include "services/common/health_watcher.h"

namespace pdserve::common {

HealthWatcher::HealthWatcher(std::function<bool()> probe, std::function<void(bool)> on_change,
                             absl::Duration interval)
    : probe_(std::move(probe)), on_change_(std::move(on_change)), interval_(interval) {
  thread_ = std::thread([this] { Loop(); });
}

HealthWatcher::~HealthWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

bool HealthWatcher::healthy() const {
  absl::MutexLock lock(&mu_);
  return healthy_;
}

void HealthWatcher::Loop() {
  bool first = true;
  while (true) {
    bool now = probe_();
    bool changed;
    {
      absl::MutexLock lock(&mu_);
      changed = first || now != healthy_;
      healthy_ = now;
    }
    if (changed) on_change_(now);
    first = false;
    absl::MutexLock lock(&mu_);
    // Sleeps `interval_` unless the destructor asks to stop.
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) return;
  }
}

}  // namespace pdserve::common
