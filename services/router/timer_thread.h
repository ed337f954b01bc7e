// A Scheduler backed by one thread that runs closures at their due time (retry back-off).
#ifndef PDSERVE_SERVICES_ROUTER_TIMER_THREAD_H_
#define PDSERVE_SERVICES_ROUTER_TIMER_THREAD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/backends.h"

namespace pdserve::router {

// Thread-safe. Closures run one at a time on the timer's thread, in due-time order; they must
// not block. The destructor drops closures not yet due and joins the thread.
class TimerThread : public Scheduler {
 public:
  TimerThread();
  ~TimerThread() override;
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  void RunAfter(absl::Duration delay, std::function<void()> fn) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  // Keyed by (due time, insertion number) so equal due times keep their order.
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> due_ ABSL_GUARDED_BY(mu_);
  uint64_t inserted_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started last in the constructor
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_TIMER_THREAD_H_
