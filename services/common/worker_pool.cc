// A fixed-size pool of worker threads.
#include "services/common/worker_pool.h"

#include <utility>

#if defined(__SANITIZE_THREAD__)
#define PDSERVE_POOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PDSERVE_POOL_TSAN 1
#endif
#endif
#ifdef PDSERVE_POOL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace pdserve::common {
namespace {

// Debian's Abseil is not built for ThreadSanitizer, so TSan cannot see the ordering absl::Mutex
// gives; these mark it on the mutex's address (no-ops in other builds).
void TsanRelease(const absl::Mutex* mu) {
#ifdef PDSERVE_POOL_TSAN
  __tsan_release(const_cast<absl::Mutex*>(mu));
#else
  (void)mu;
#endif
}
void TsanAcquire(const absl::Mutex* mu) {
#ifdef PDSERVE_POOL_TSAN
  __tsan_acquire(const_cast<absl::Mutex*>(mu));
#else
  (void)mu;
#endif
}

}  // namespace

WorkerPool::WorkerPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::thread::hardware_concurrency());
  if (num_threads <= 0) num_threads = 1;
  threads_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    TsanAcquire(&mu_);
    stopping_ = true;
    TsanRelease(&mu_);
  }
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Submit(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  TsanAcquire(&mu_);  // the queue was last changed by a worker's pop
  queue_.push_back(std::move(work));
  TsanRelease(&mu_);
}

size_t WorkerPool::QueueLength() const {
  absl::MutexLock lock(&mu_);
  TsanAcquire(&mu_);
  const size_t length = queue_.size();
  TsanRelease(&mu_);
  return length;
}

void WorkerPool::Run() {
  while (true) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      TsanAcquire(&mu_);
      if (queue_.empty()) {  // stopping and drained
        TsanRelease(&mu_);
        return;
      }
      work = std::move(queue_.front());
      queue_.pop_front();
      TsanRelease(&mu_);
    }
    work();
  }
}

}  // namespace pdserve::common
