// Spin-then-sleep fork-join pool.
#include "decoder/thread_pool.h"

namespace pdserve::decoder::internal {
namespace {

// A spin-wait hint (x86 PAUSE, Arm YIELD): lets the sibling hyperthread run and saves power.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

constexpr int kSpinIterations = 4000;  // ~100 us of pause before sleeping
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Run(absl::FunctionRef<void(int, int)> fn) {
  if (workers_.empty() || busy_.test_and_set(std::memory_order_acquire)) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  fn(0, num_threads());
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinIterations) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
  busy_.clear(std::memory_order_release);
}

void ThreadPool::WorkerLoop(int index) {
  uint32_t seen = 0;
  while (true) {
    uint32_t gen = generation_.load(std::memory_order_acquire);
    for (int spins = 0; gen == seen && spins < kSpinIterations; ++spins) {
      CpuRelax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = gen;
    if (stop_.load(std::memory_order_relaxed)) return;
    (*job_)(index, num_threads());
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace pdserve::decoder::internal
