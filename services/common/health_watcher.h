// Re-checks a dependency (e.g. the cache manager) in the background and reports when its
// reachability changes, so a server can say NOT_SERVING until the dependency appears.
#ifndef PDSERVE_SERVICES_COMMON_HEALTH_WATCHER_H_
#define PDSERVE_SERVICES_COMMON_HEALTH_WATCHER_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pdserve::common {

// Thread-safe. Runs `probe` every `interval` on its own thread and calls `on_change(healthy)`
// on the first result and whenever it changes. The destructor stops the thread.
class HealthWatcher {
 public:
  HealthWatcher(std::function<bool()> probe, std::function<void(bool)> on_change,
                absl::Duration interval);
  ~HealthWatcher();
  bool healthy() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();

  const std::function<bool()> probe_;
  const std::function<void(bool)> on_change_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_HEALTH_WATCHER_H_
