// Tests of sampling.
#include "decoder/sampler.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

std::vector<float> Logits() {
  std::vector<float> l(50);
  for (int i = 0; i < 50; ++i) l[i] = static_cast<float>((i * 37) % 50) / 10.0f;
  return l;  // max at i where (37 i) % 50 == 49
}

TEST(SamplerTest, GreedyIsArgmax) {
  const auto l = Logits();
  const int32_t argmax = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
  Sampler s(SamplingParams{});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.Sample(l), argmax);
  // Ties go to the lowest id.
  EXPECT_EQ(s.Sample(std::vector<float>{1, 3, 3, 0}), 1);
}

TEST(SamplerTest, SeedIsReproducibleAndStepDependent) {
  const auto l = Logits();
  SamplingParams p{1.0f, 0, 1.0f, 1234};
  Sampler a(p), b(p);
  std::vector<int32_t> sa, sb;
  for (int i = 0; i < 50; ++i) {
    sa.push_back(a.Sample(l));
    sb.push_back(b.Sample(l));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_GT(std::set<int32_t>(sa.begin(), sa.end()).size(), 3u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Sampler(p).SampleAt(l, i), sa[i]);
  p.seed = 99;
  Sampler c(p);
  std::vector<int32_t> sc;
  for (int i = 0; i < 50; ++i) sc.push_back(c.Sample(l));
  EXPECT_NE(sa, sc);
}

TEST(SamplerTest, UniformIsPinned) {
  // Fixed values: sampling must give the same tokens on every machine and release.
  EXPECT_EQ(UniformForTest(42, 7), 0x1.6193e897f620ep-2);
  double mean = 0;
  for (int i = 0; i < 10000; ++i) mean += UniformForTest(5, i);
  EXPECT_NEAR(mean / 10000, 0.5, 0.02);
}

TEST(SamplerTest, TopKNeverPicksOutsideTheSet) {
  const auto l = Logits();
  std::vector<int32_t> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
  const std::set<int32_t> top5(order.begin(), order.begin() + 5);
  Sampler s(SamplingParams{5.0f, 5, 1.0f, 7});
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i) {
    const int32_t t = s.Sample(l);
    EXPECT_TRUE(top5.count(t)) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen, top5);  // high temperature: all five get picked
}

TEST(SamplerTest, TopPNeverPicksOutsideTheNucleus) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
  const std::vector<float> l = {std::log(0.05f), std::log(0.5f), std::log(0.15f), std::log(0.3f)};
  Sampler s(SamplingParams{1.0f, 0, 0.75f, 3});
  std::map<int32_t, int> counts;
  for (int i = 0; i < 1000; ++i) counts[s.Sample(l)]++;
  EXPECT_EQ(counts.count(0), 0u);
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_NEAR(counts[1] / 1000.0, 0.5 / 0.8, 0.06);
}

TEST(SamplerTest, ValidateNamesTheField) {
  EXPECT_TRUE(Validate(SamplingParams{}).ok());
  EXPECT_TRUE(Validate(SamplingParams{0.7f, 40, 0.9f, 1}).ok());
  const struct {
    SamplingParams p;
    const char* field;
  } bad[] = {{{-0.1f, 0, 1.0f, 0}, "temperature"},
             {{1.0f, -1, 1.0f, 0}, "top_k"},
             {{1.0f, 0, 0.0f, 0}, "top_p"},
             {{1.0f, 0, 1.5f, 0}, "top_p"}};
  for (const auto& b : bad) {
    const absl::Status s = Validate(b.p);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.message(), b.field)) << s;
  }
}

}  // namespace
}  // namespace pdserve::decoder
