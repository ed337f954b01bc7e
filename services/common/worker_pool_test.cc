// Tests of the worker pool: every closure runs, destruction drains the queue.
#include "services/common/worker_pool.h"

#include <atomic>

#include "gtest/gtest.h"

namespace pdserve::common {
namespace {

TEST(WorkerPoolTest, RunsEverySubmittedClosureBeforeDestruction) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(3);
    EXPECT_EQ(pool.num_threads(), 3);
    for (int i = 0; i < 1000; ++i) pool.Submit([&] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(WorkerPoolTest, ZeroThreadsMeansOnePerCore) {
  WorkerPool pool(0);
  EXPECT_GE(pool.num_threads(), 1);
}

}  // namespace
}  // namespace pdserve::common
