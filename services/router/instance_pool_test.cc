// InstancePool: least-loaded choice, round robin among equals, health and exclusions.
#include "services/router/instance_pool.h"

#include "gtest/gtest.h"

namespace pdserve::router {
namespace {

TEST(InstancePoolTest, EmptyPoolIsUnavailable) {
  InstancePool pool({});
  EXPECT_EQ(pool.Acquire({}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(InstancePoolTest, EqualLoadRotatesRoundRobin) {
  InstancePool pool({"a", "b", "c"});
  for (size_t i = 0; i < 3; ++i) pool.SetHealthy(i, true);
  std::vector<size_t> picks;
  for (int i = 0; i < 6; ++i) {
    size_t p = *pool.Acquire({});
    picks.push_back(p);
    pool.Release(p);
  }
  EXPECT_EQ(picks, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(InstancePoolTest, PicksTheLeastLoaded) {
  InstancePool pool({"a", "b"});
  pool.SetHealthy(0, true);
  pool.SetHealthy(1, true);
  EXPECT_EQ(*pool.Acquire({}), 0u);
  EXPECT_EQ(*pool.Acquire({}), 1u);
  EXPECT_EQ(*pool.Acquire({}), 0u);
  pool.Release(0);
  pool.Release(0);
  EXPECT_EQ(*pool.Acquire({}), 0u);  // 0 has none in flight, 1 has one
  EXPECT_EQ(pool.in_flight(0), 1);
  EXPECT_EQ(pool.in_flight(1), 1);
}

TEST(InstancePoolTest, PrefersHealthyMembersButFallsBackWhenNoneIs) {
  InstancePool pool({"a", "b"});
  pool.SetHealthy(1, true);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*pool.Acquire({}), 1u);  // even when more loaded
  EXPECT_TRUE(pool.AnyHealthy());
  pool.SetHealthy(1, false);
  EXPECT_FALSE(pool.AnyHealthy());
  EXPECT_EQ(*pool.Acquire({}), 0u);  // least loaded among the unhealthy
}

TEST(InstancePoolTest, ExclusionIsSoft) {
  InstancePool pool({"a", "b"});
  pool.SetHealthy(0, true);
  pool.SetHealthy(1, true);
  const std::vector<size_t> exclude_a = {0};
  EXPECT_EQ(*pool.Acquire(exclude_a), 1u);
  EXPECT_EQ(*pool.Acquire(exclude_a), 1u);
  const std::vector<size_t> exclude_both = {0, 1};
  EXPECT_EQ(*pool.Acquire(exclude_both), 0u);  // nobody else: the least loaded
  pool.SetHealthy(1, false);
  EXPECT_EQ(*pool.Acquire(exclude_a), 1u);  // unhealthy but allowed beats excluded
}

}  // namespace
}  // namespace pdserve::router
