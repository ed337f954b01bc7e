// A tiny fork-join pool for the model's kernels: one call runs a function on every thread.
#ifndef PDSERVE_DECODER_THREAD_POOL_H_
#define PDSERVE_DECODER_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace pdserve::decoder::internal {

// Fork-join over a fixed set of threads (the caller plus num_threads - 1 workers). Workers spin
// briefly between jobs (decode steps issue many short jobs), then sleep on a futex.
//
// Thread-safe: Run may be called from any thread. One job runs at a time; a Run that finds the
// pool busy runs its function inline as a single participant, so results never depend on which
// path was taken as long as `fn` partitions work deterministically per output element.
class ThreadPool {
 public:
  // REQUIRES: num_threads >= 1.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(i, n) for i in [0, n) concurrently and returns when all have returned. n is
  // num_threads(), or 1 if the pool is busy with another caller's job.
  void Run(absl::FunctionRef<void(int index, int count)> fn);

 private:
  void WorkerLoop(int index);

  std::vector<std::thread> workers_;
  std::atomic_flag busy_ = ATOMIC_FLAG_INIT;  // held by the caller of the running job
  // Bumped to publish a job (or stop). 32 bits, so wait/notify are a plain futex on the word
  // itself (libstdc++ routes other sizes through a shared proxy); wrap-around is harmless, a
  // worker only compares it with the last value it saw.
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};               // workers still running the current job
  std::atomic<bool> stop_{false};
  const absl::FunctionRef<void(int, int)>* job_ = nullptr;  // valid while pending_ > 0
};

// Splits [0, n) into `count` nearly equal contiguous ranges; returns range `index` as [begin, end).
// `align` rounds interior boundaries to multiples of it.
inline void SplitRange(int64_t n, int index, int count, int64_t align, int64_t* begin,
                       int64_t* end) {
  const int64_t units = (n + align - 1) / align;
  const int64_t b = units * index / count * align;
  const int64_t e = units * (index + 1) / count * align;
  *begin = b < n ? b : n;
  *end = e < n ? e : n;
}

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_THREAD_POOL_H_
