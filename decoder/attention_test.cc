// Tests of paged attention: span layout independence and agreement with plain softmax.
#include "decoder/attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace pdserve::decoder::internal {
namespace {

constexpr KvLayout kLayout{2, 2, 16};

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Naive softmax attention in double for one head.
std::vector<double> Reference(const std::vector<float>& kv, int layer, int kv_head,
                              const float* q, int64_t n, float scale) {
  const int d = kLayout.head_dim;
  std::vector<double> s(n);
  double mx = -1e300;
  for (int64_t j = 0; j < n; ++j) {
    const float* k = kv.data() + j * kLayout.TokenFloats() + kLayout.Offset(layer, 0, kv_head);
    double dot = 0;
    for (int i = 0; i < d; ++i) dot += double{q[i]} * k[i];
    s[j] = dot * scale;
    mx = std::max(mx, s[j]);
  }
  double sum = 0;
  std::vector<double> out(d, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const double p = std::exp(s[j] - mx);
    sum += p;
    const float* v = kv.data() + j * kLayout.TokenFloats() + kLayout.Offset(layer, 1, kv_head);
    for (int i = 0; i < d; ++i) out[i] += p * v[i];
  }
  for (double& o : out) o /= sum;
  return out;
}

class AttentionTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(AttentionTest, ShuffledBlocksEqualContiguousAndReference) {
  const int64_t n = GetParam();
  const int64_t tf = kLayout.TokenFloats();
  const auto kv = Random(n * tf, 7);
  const int group = 3;
  const auto q = Random(group * kLayout.head_dim, 8);
  const float scale = 0.25f;

  // Contiguous: one span.
  const KvSpan whole{kv.data(), n};
  std::vector<float> contiguous(group * kLayout.head_dim);
  AttendGroup(kLayout, 1, 1, group, q.data(), n, KvSource{KvView(&whole, 1)}, scale,
              contiguous.data());

  // 16-token blocks stored in shuffled physical order (plus a partial tail).
  const int64_t blocks = (n + 15) / 16;
  std::vector<int64_t> slot(blocks);
  std::iota(slot.begin(), slot.end(), 0);
  std::shuffle(slot.begin(), slot.end(), std::mt19937(9));
  std::vector<float> pool(blocks * 16 * tf, NAN);
  std::vector<KvSpan> spans;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t len = std::min<int64_t>(16, n - b * 16);
    std::copy(kv.begin() + b * 16 * tf, kv.begin() + (b * 16 + len) * tf,
              pool.begin() + slot[b] * 16 * tf);
    spans.push_back({pool.data() + slot[b] * 16 * tf, len});
  }
  std::vector<float> paged(group * kLayout.head_dim);
  AttendGroup(kLayout, 1, 1, group, q.data(), n, KvSource{spans}, scale, paged.data());
  EXPECT_EQ(paged, contiguous);

  // Irregular spans, the last tokens as a tail.
  std::vector<KvSpan> odd;
  int64_t pos = 0;
  for (int64_t len = 1; pos < n - 3; len = len % 7 + 2) {
    const int64_t take = std::min(len, n - 3 - pos);
    odd.push_back({kv.data() + pos * tf, take});
    pos += take;
  }
  std::vector<float> mixed(group * kLayout.head_dim);
  AttendGroup(kLayout, 1, 1, group, q.data(), n,
              KvSource{odd, kv.data() + pos * tf, n - pos}, scale, mixed.data());
  EXPECT_EQ(mixed, contiguous);

  for (int g = 0; g < group; ++g) {
    const auto ref = Reference(kv, 1, 1, q.data() + g * kLayout.head_dim, n, scale);
    for (int i = 0; i < kLayout.head_dim; ++i) {
      EXPECT_NEAR(contiguous[g * kLayout.head_dim + i], ref[i], 1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Lengths, AttentionTest, ::testing::Values(4, 15, 16, 17, 33, 100));

TEST(AttentionBlockTest, EachQueryMatchesSingleQueryAttention) {
  const int64_t n = 45, tf = kLayout.TokenFloats();
  const auto kv = Random(n * tf, 3);
  const int group = 2, d = kLayout.head_dim;
  const KvSpan whole{kv.data(), n};
  const KvSource src{KvView(&whole, 1)};
  const int nq = 7;
  const auto q = Random(nq * group * d, 4);
  std::vector<float> block_out(nq * group * d), single_out(nq * group * d);
  std::vector<AttentionQuery> queries;
  for (int i = 0; i < nq; ++i) {
    const int64_t keys = n - 2 * i;  // different lengths, some ending mid-chunk
    queries.push_back({q.data() + i * group * d, keys, block_out.data() + i * group * d});
    AttendGroup(kLayout, 0, 1, group, q.data() + i * group * d, keys, src, 0.3f,
                single_out.data() + i * group * d);
  }
  AttendBlock(kLayout, 0, 1, 2, group, queries, src, 0.3f);
  EXPECT_EQ(block_out, single_out);
}

TEST(AttentionBlockTest, KvHeadRangeMatchesPerHeadAttention) {
  const int64_t n = 37, tf = kLayout.TokenFloats();
  const auto kv = Random(n * tf, 5);
  const int group = 3, d = kLayout.head_dim, heads = kLayout.num_kv_heads * group;
  const KvSpan whole{kv.data(), n};
  const KvSource src{KvView(&whole, 1)};
  const auto q = Random(heads * d, 6);
  std::vector<float> joint(heads * d), separate(heads * d);
  const AttentionQuery query{q.data(), n, joint.data()};
  AttendBlock(kLayout, 1, 0, kLayout.num_kv_heads, group, absl::MakeConstSpan(&query, 1), src,
              0.2f);
  for (int h = 0; h < kLayout.num_kv_heads; ++h) {
    AttendGroup(kLayout, 1, h, group, q.data() + h * group * d, n, src, 0.2f,
                separate.data() + h * group * d);
  }
  EXPECT_EQ(joint, separate);
}

// Query heads are processed in tiles of up to 3 per pass over the K/V: a group of 5 (tiles of 3
// and 2) with head_dim 40 (a 32-float and an 8-float slice per V row) must give each head the
// bits it gets alone, and agree with plain softmax.
TEST(AttentionBlockTest, HeadTilesMatchOneHeadAtATime) {
  constexpr KvLayout layout{1, 2, 40};
  const int64_t n = 37, tf = layout.TokenFloats();
  const auto kv = Random(n * tf, 11);
  const int group = 5, d = layout.head_dim;
  const auto q = Random(int64_t{group} * d, 12);
  const KvSpan whole{kv.data(), n};
  const KvSource src{KvView(&whole, 1)};
  const float scale = 0.3f;
  std::vector<float> together(group * d);
  AttendGroup(layout, 0, 1, group, q.data(), n, src, scale, together.data());
  for (int g = 0; g < group; ++g) {
    std::vector<float> alone(d);
    AttendGroup(layout, 0, 1, 1, q.data() + g * d, n, src, scale, alone.data());
    for (int i = 0; i < d; ++i) ASSERT_EQ(together[g * d + i], alone[i]) << "head " << g << " dim " << i;
    // Plain softmax in double.
    std::vector<double> w(n);
    double mx = -1e300, sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float* k = kv.data() + j * tf + layout.Offset(0, 0, 1);
      double dot = 0;
      for (int i = 0; i < d; ++i) dot += double{q[g * d + i]} * k[i];
      w[j] = dot * scale;
      mx = std::max(mx, w[j]);
    }
    for (double& x : w) sum += (x = std::exp(x - mx));
    for (int i = 0; i < d; ++i) {
      double ref = 0;
      for (int64_t j = 0; j < n; ++j) ref += w[j] / sum * kv[j * tf + layout.Offset(0, 1, 1) + i];
      EXPECT_NEAR(together[g * d + i], ref, 1e-5) << "head " << g << " dim " << i;
    }
  }
}

TEST(AttentionStabilityTest, LargeScoresDoNotOverflow) {
  const int64_t n = 40, tf = kLayout.TokenFloats();
  auto kv = Random(n * tf, 1);
  for (float& x : kv) x *= 100.0f;
  const auto q = Random(kLayout.head_dim, 2);
  const KvSpan whole{kv.data(), n};
  std::vector<float> out(kLayout.head_dim);
  AttendGroup(kLayout, 0, 0, 1, q.data(), n, KvSource{KvView(&whole, 1)}, 1.0f, out.data());
  const auto ref = Reference(kv, 0, 0, q.data(), n, 1.0f);
  for (int i = 0; i < kLayout.head_dim; ++i) {
    ASSERT_TRUE(std::isfinite(out[i]));
    EXPECT_NEAR(out[i], ref[i], 1e-3 * std::max(1.0, std::abs(ref[i])));
  }
}

}  // namespace
}  // namespace pdserve::decoder::internal
