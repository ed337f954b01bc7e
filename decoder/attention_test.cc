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

  // Head-major blocks ([layer][kv_head][K/V][slot][head_dim], the decode server's local copy)
  // of 16 and of 32 slots, shuffled, unused slots poisoned; then a mix of both orders and a
  // token-major tail. The order of the bytes must not change a bit of the result.
  for (const int64_t cap : {16, 32}) {
    const int64_t nb = (n + cap - 1) / cap;
    std::vector<int64_t> where(nb);
    std::iota(where.begin(), where.end(), 0);
    std::shuffle(where.begin(), where.end(), std::mt19937(10));
    std::vector<float> blocks_pool(nb * cap * tf, NAN);
    std::vector<KvSpan> head_major;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t len = std::min(cap, n - b * cap);
      float* dst = blocks_pool.data() + where[b] * cap * tf;
      CopyToBlock(kLayout, kv.data() + b * cap * tf, len, cap, 0, dst);
      head_major.push_back({dst, len, cap});
    }
    std::vector<float> out(group * kLayout.head_dim);
    AttendGroup(kLayout, 1, 1, group, q.data(), n, KvSource{head_major}, scale, out.data());
    EXPECT_EQ(out, contiguous) << "capacity " << cap;

    std::vector<KvSpan> mix;
    int64_t at = 0;
    for (int64_t b = 0; b < nb && at < n - 2; ++b) {
      const int64_t len = std::min(head_major[b].num_tokens, n - 2 - at);
      if (b % 2 == 0) {
        mix.push_back({head_major[b].data, len, cap});
      } else {
        mix.push_back({kv.data() + at * tf, len});
      }
      at += len;
    }
    AttendGroup(kLayout, 1, 1, group, q.data(), n, KvSource{mix, kv.data() + at * tf, n - at},
                scale, out.data());
    EXPECT_EQ(out, contiguous) << "mixed, capacity " << cap;
  }

  for (int g = 0; g < group; ++g) {
    const auto ref = Reference(kv, 1, 1, q.data() + g * kLayout.head_dim, n, scale);
    for (int i = 0; i < kLayout.head_dim; ++i) {
      EXPECT_NEAR(contiguous[g * kLayout.head_dim + i], ref[i], 1e-5);
    }
  }
}

// 300 and 600 span two and three key segments.
INSTANTIATE_TEST_SUITE_P(Lengths, AttentionTest,
                         ::testing::Values(4, 15, 16, 17, 33, 100, 300, 600));

// Threads split a long sequence by key segment: each segment's state computed on its own, in
// any order, and merged by FinishSegments must give AttendBlock's bits, including for a query
// whose keys end before the last segments (an empty state there).
TEST(AttentionSegmentTest, SegmentsComputedSeparatelyMatchAttendBlock) {
  const int64_t n = 700, tf = kLayout.TokenFloats();
  const auto kv = Random(n * tf, 13);
  const int group = 3, d = kLayout.head_dim, heads = kLayout.num_kv_heads * group;
  const KvSpan whole{kv.data(), n};
  const KvSource src{KvView(&whole, 1)};
  const auto q = Random(3 * heads * d, 14);
  const int64_t keys[3] = {700, 513, 200};
  std::vector<float> joint(3 * heads * d), split(3 * heads * d, NAN);
  std::vector<AttentionQuery> jq, sq;
  for (int i = 0; i < 3; ++i) {
    jq.push_back({q.data() + i * heads * d, keys[i], joint.data() + i * heads * d});
    sq.push_back({q.data() + i * heads * d, keys[i], split.data() + i * heads * d});
  }
  AttendBlock(kLayout, 1, 0, kLayout.num_kv_heads, group, jq, src, 0.2f);

  const int64_t segments = NumSegments(700);
  ASSERT_EQ(segments, 3);
  const int64_t floats = SegmentStateFloats(3, heads, d);
  std::vector<float> states(segments * floats, NAN);
  std::vector<const float*> order;
  for (int64_t s = segments - 1; s >= 0; --s) {  // last segment first
    AttendSegment(kLayout, 1, 0, kLayout.num_kv_heads, group, sq, src, 0.2f, s,
                  states.data() + s * floats);
  }
  for (int64_t s = 0; s < segments; ++s) order.push_back(states.data() + s * floats);
  FinishSegments(kLayout, 0, kLayout.num_kv_heads, group, sq, order);
  EXPECT_EQ(split, joint);

  // And the merged result is softmax attention (query 0, every head).
  for (int h = 0; h < heads; ++h) {
    const auto ref = Reference(kv, 1, h / group, q.data() + h * d, 700, 0.2f);
    for (int i = 0; i < d; ++i) EXPECT_NEAR(joint[h * d + i], ref[i], 1e-5) << h << " " << i;
  }
}

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
