// The timer thread: sleeps until the earliest due closure (or a new, maybe earlier, one) and
// runs it.
#include "services/router/timer_thread.h"

namespace pdserve::router {

TimerThread::TimerThread() : thread_([this] { Run(); }) {}

TimerThread::~TimerThread() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void TimerThread::RunAfter(absl::Duration delay, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  due_.emplace(std::make_pair(absl::Now() + delay, inserted_++), std::move(fn));
}

void TimerThread::Run() {
  absl::MutexLock lock(&mu_);
  while (true) {
    const uint64_t seen = inserted_;
    const absl::Time wake = due_.empty() ? absl::InfiniteFuture() : due_.begin()->first.first;
    // Wakes at `wake`, on stop, or when a closure is added (it may be due earlier).
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || inserted_ != seen;
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
    if (stopping_) return;
    if (due_.empty() || due_.begin()->first.first > absl::Now()) continue;
    std::function<void()> fn = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
}

}  // namespace pdserve::router
