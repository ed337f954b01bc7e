// A fixed-size pool of worker threads that runs submitted closures in FIFO order.
#ifndef PDSERVE_SERVICES_COMMON_WORKER_POOL_H_
#define PDSERVE_SERVICES_COMMON_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pdserve::common {

// Thread-safe. Model and storage work runs here, never on gRPC's polling threads. The
// destructor finishes every queued closure, then joins the threads.
class WorkerPool {
 public:
  // num_threads <= 0 means one thread per hardware core.
  explicit WorkerPool(int num_threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> work) ABSL_LOCKS_EXCLUDED(mu_);
  int num_threads() const { return static_cast<int>(threads_.size()); }
  // Closures queued but not started.
  size_t QueueLength() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // constant after construction
};

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_WORKER_POOL_H_
