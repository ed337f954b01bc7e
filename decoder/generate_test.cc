// Tests of the reference generation loops.
#include "decoder/generate.h"

#include <random>

#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

const Model& Tiny() {
  static const Model* model = Model::Load("synthetic:tiny")->release();
  return *model;
}

std::vector<int32_t> Prompt(int n) {
  std::mt19937 rng(n);
  std::vector<int32_t> p(n);
  for (int32_t& t : p) t = static_cast<int32_t>(rng() % 512);
  return p;
}

TEST(GenerateTest, CachedEqualsRecomputeForGreedyAndSampling) {
  for (const SamplingParams& params :
       {SamplingParams{}, SamplingParams{0.8f, 0, 1.0f, 5}, SamplingParams{1.2f, 20, 0.9f, 77}}) {
    for (int len : {1, 16, 23}) {
      const StopCondition stop{40, {}};
      auto cached = Generate(Tiny(), Prompt(len), params, stop);
      auto recomputed = GenerateByRecompute(Tiny(), Prompt(len), params, stop);
      ASSERT_TRUE(cached.ok() && recomputed.ok());
      EXPECT_EQ(cached->tokens, recomputed->tokens);
      EXPECT_EQ(cached->tokens.size(), 40u);
      EXPECT_EQ(cached->finish_reason, FinishReason::kLength);
    }
  }
}

TEST(GenerateTest, SeedChangesSampledOutput) {
  auto a = Generate(Tiny(), Prompt(8), SamplingParams{1.0f, 0, 1.0f, 1}, {30, {}});
  auto b = Generate(Tiny(), Prompt(8), SamplingParams{1.0f, 0, 1.0f, 2}, {30, {}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->tokens, b->tokens);
}

TEST(GenerateTest, StopsAtStopToken) {
  auto full = Generate(Tiny(), Prompt(10), SamplingParams{}, {20, {}});
  ASSERT_TRUE(full.ok());
  const int32_t stop_token = full->tokens[5];
  auto stopped = Generate(Tiny(), Prompt(10), SamplingParams{}, {20, {stop_token}});
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, FinishReason::kStopToken);
  EXPECT_EQ(stopped->tokens.back(), stop_token);
  EXPECT_LE(stopped->tokens.size(), 6u);
}

TEST(GenerateTest, ZeroMaxTokensAndErrors) {
  auto none = Generate(Tiny(), Prompt(3), SamplingParams{}, {0, {}});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->tokens.empty());
  EXPECT_EQ(Generate(Tiny(), {}, SamplingParams{}, {4, {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Generate(Tiny(), Prompt(3), SamplingParams{-1.0f}, {4, {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Generate(Tiny(), Prompt(3), SamplingParams{}, {-1, {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GenerateTest, StopsAtMaxPosition) {
  const int max_pos = Tiny().config().max_position_embeddings;
  auto r = Generate(Tiny(), Prompt(max_pos - 3), SamplingParams{}, {10, {}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->finish_reason, FinishReason::kMaxPosition);
  EXPECT_EQ(r->tokens.size(), 4u);
}

}  // namespace
}  // namespace pdserve::decoder
