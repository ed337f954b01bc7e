// Tests of the batch-invariant matmul.
#include "decoder/linear.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace pdserve::decoder::internal {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(LinearTest, MatchesNaiveProduct) {
  ThreadPool pool(2);
  for (auto [m, n, k] : {std::tuple{1, 5, 3}, {7, 33, 17}, {13, 100, 64}, {40, 130, 96}}) {
    const auto w = Random(int64_t{n} * k, 1), x = Random(int64_t{m} * k, 2);
    PackedLinear packed(w, n, k);
    std::vector<float> y(int64_t{m} * n);
    MatMul(packed, x.data(), m, k, y.data(), n, &pool);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double ref = 0;
        for (int kk = 0; kk < k; ++kk) ref += double{x[i * k + kk]} * w[j * k + kk];
        EXPECT_NEAR(y[i * n + j], ref, 1e-4) << m << "x" << n << "x" << k;
      }
    }
  }
}

// Every row's output must be bit-identical whatever the batch it is computed in.
TEST(LinearTest, RowsAreBitIdenticalAcrossBatchSizesAndThreads) {
  const int n = 200, k = 77;
  const auto w = Random(int64_t{n} * k, 3);
  PackedLinear packed(w, n, k);
  const int max_m = 37;
  const auto x = Random(int64_t{max_m} * k, 4);
  std::vector<float> single(int64_t{max_m} * n);
  for (int i = 0; i < max_m; ++i) {
    MatMul(packed, x.data() + i * k, 1, k, single.data() + i * n, n, nullptr);
  }
  ThreadPool pool(2);
  for (int m = 1; m <= max_m; ++m) {
    std::vector<float> y(int64_t{m} * n);
    MatMul(packed, x.data(), m, k, y.data(), n, &pool);
    for (int64_t i = 0; i < int64_t{m} * n; ++i) ASSERT_EQ(y[i], single[i]) << "m=" << m;
  }
}

// Large inner dimension and row counts: the blocked path splits k and rows, the panel path
// (below kBlockedMinRows) runs several panel groups per thread, prefetching the next while it
// computes; bits must not move.
TEST(LinearTest, BlockedPathIsBitIdenticalToSingleRows) {
  const int n = 200, k = 600, max_m = 160;
  const auto w = Random(int64_t{n} * k, 5);
  const auto x = Random(int64_t{max_m} * k, 6);
  PackedLinear packed(w, n, k);
  std::vector<float> single(int64_t{max_m} * n);
  for (int i = 0; i < max_m; ++i) {
    MatMul(packed, x.data() + i * k, 1, k, single.data() + i * n, n, nullptr);
  }
  ThreadPool pool(2);
  for (int m : {7, 16, 23, 24, 31, 39, 40, 150, 160}) {
    std::vector<float> y(int64_t{m} * n);
    MatMul(packed, x.data(), m, k, y.data(), n, &pool);
    for (int64_t i = 0; i < int64_t{m} * n; ++i) ASSERT_EQ(y[i], single[i]) << "m=" << m;
  }
}

TEST(ThreadPoolTest, RunsEveryIndexOnce) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 100; ++rep) {
    std::vector<int> hits(3, 0);
    int seen_count = 0;
    pool.Run([&](int index, int count) {
      hits[index]++;
      if (index == 0) seen_count = count;
    });
    EXPECT_EQ(seen_count, 3);
    EXPECT_EQ(hits, std::vector<int>({1, 1, 1}));
  }
}

TEST(ThreadPoolTest, SplitRangeCoversEverything) {
  int64_t covered = 0, prev_end = 0;
  for (int i = 0; i < 3; ++i) {
    int64_t b, e;
    SplitRange(101, i, 3, 4, &b, &e);
    EXPECT_EQ(b, prev_end);
    covered += e - b;
    prev_end = e;
  }
  EXPECT_EQ(covered, 101);
}

}  // namespace
}  // namespace pdserve::decoder::internal
