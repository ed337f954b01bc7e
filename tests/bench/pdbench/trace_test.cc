// Trace parsing, scaling, token derivation, arrivals and the hit-ratio ceiling on a hand-made
// five-request trace (scale 32: one 512-token trace block -> 16 tokens).
#include "tests/bench/pdbench/trace.h"

#include <set>
#include <sstream>

#include "gtest/gtest.h"

namespace pdserve::bench {
namespace {

// Hand-computed at scale 32 (blocks seen before, counting only a leading run of hits):
//   #  tokens = ceil(len/32)  blocks  reusable blocks       reusable tokens  output
//   1  32                     2       0                     0                round(64/32)=2
//   2  47 (16+16+15)          3       2 (1, 2)              32               round(10/32)=0 -> 1
//   3  16                     1       0                     0                5000/32 -> cap 64
//   4  48                     3       1 (1; 5 misses)       16               1
//   5  64                     4       1 (4; 6 misses)       16               round(1.5)=2
//   totals: 207 tokens, 13 blocks; 64 reusable tokens, 4 reusable blocks.
constexpr char kTrace[] =
    R"({"timestamp": 0, "input_length": 1024, "output_length": 64, "hash_ids": [1, 2]}
{"timestamp": 100, "input_length": 1500, "output_length": 10, "hash_ids": [1, 2, 3]}
{"timestamp": 250, "input_length": 512, "output_length": 5000, "hash_ids": [4]}
{"timestamp": 400, "input_length": 1536, "output_length": 32, "hash_ids": [1, 5, 3]}

{"timestamp": 1000, "input_length": 2048, "output_length": 48, "hash_ids": [4, 6, 7, 8]}
)";

std::vector<TraceRequest> HandTrace() {
  std::istringstream in(kTrace);
  absl::StatusOr<std::vector<TraceRequest>> trace = ParseTrace(in, 0);
  EXPECT_TRUE(trace.ok()) << trace.status();
  return trace.ok() ? *trace : std::vector<TraceRequest>{};
}

TEST(TraceTest, ParsesAndLimits) {
  const std::vector<TraceRequest> trace = HandTrace();
  ASSERT_EQ(trace.size(), 5u);
  EXPECT_EQ(trace[3].timestamp_ms, 400);
  EXPECT_EQ(trace[4].hash_ids, (std::vector<int64_t>{4, 6, 7, 8}));
  std::istringstream in(kTrace);
  EXPECT_EQ(ParseTrace(in, 2)->size(), 2u);
  std::istringstream bad(R"({"timestamp": 0, "input_length": "x", "hash_ids": []})");
  EXPECT_EQ(ParseTrace(bad, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TraceTest, ScalesLengths) {
  const std::vector<TraceRequest> trace = HandTrace();
  ScaleOptions o;  // scale 32, vocab 512, max_output 64
  const int64_t expected_prompt[] = {32, 47, 16, 48, 64};
  const int32_t expected_output[] = {2, 1, 64, 1, 2};
  for (size_t i = 0; i < trace.size(); ++i) {
    absl::StatusOr<ScaledRequest> s = ScaleRequest(trace[i], o);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(static_cast<int64_t>(s->prompt.size()), expected_prompt[i]) << i;
    EXPECT_EQ(s->output_tokens, expected_output[i]) << i;
  }
  o.max_prompt = 20;  // truncates request 2 (47 tokens) to its first 20
  EXPECT_EQ(ScaleRequest(trace[1], o)->prompt.size(), 20u);
  EXPECT_EQ(ComputeHitCeiling(trace, o).tokens_total, 20 + 20 + 16 + 20 + 20);
  o.scale = 0;
  EXPECT_FALSE(ScaleRequest(trace[0], o).ok());
}

TEST(TraceTest, EqualHashIdsGiveEqualTokensInsideTheVocab) {
  const std::vector<TraceRequest> trace = HandTrace();
  ScaleOptions o;
  const ScaledRequest a = *ScaleRequest(trace[0], o);  // blocks 1, 2
  const ScaledRequest b = *ScaleRequest(trace[1], o);  // blocks 1, 2, 3
  const ScaledRequest d = *ScaleRequest(trace[3], o);  // blocks 1, 5, 3
  EXPECT_TRUE(std::equal(a.prompt.begin(), a.prompt.end(), b.prompt.begin()));
  EXPECT_TRUE(std::equal(a.prompt.begin(), a.prompt.begin() + 16, d.prompt.begin()));
  EXPECT_FALSE(std::equal(a.prompt.begin() + 16, a.prompt.end(), d.prompt.begin() + 16));
  EXPECT_EQ(BlockTokens(3, 16, 512), BlockTokens(3, 16, 512));
  std::set<int32_t> distinct;
  for (int64_t id = 0; id < 200; ++id) {
    for (int32_t t : BlockTokens(id, 16, 512)) {
      EXPECT_GE(t, kFirstTokenId);
      EXPECT_LT(t, 512);
      distinct.insert(t);
    }
  }
  EXPECT_GT(distinct.size(), 400u);  // spread over the vocabulary
}

TEST(TraceTest, HitCeilingOfHandTrace) {
  const HitCeiling c = ComputeHitCeiling(HandTrace(), ScaleOptions());
  EXPECT_EQ(c.blocks_total, 13);
  EXPECT_EQ(c.blocks_seen_before, 4);
  EXPECT_EQ(c.tokens_total, 207);
  EXPECT_EQ(c.tokens_seen_before, 64);
  EXPECT_DOUBLE_EQ(c.block_ratio(), 4.0 / 13);
  EXPECT_DOUBLE_EQ(c.token_ratio(), 64.0 / 207);
}

TEST(TraceTest, HitCeilingAtAnotherScale) {
  ScaleOptions o;
  o.scale = 64;  // 8 tokens per block
  const HitCeiling c = ComputeHitCeiling(HandTrace(), o);
  // Tokens: 16, 24 (ceil 23.4), 8, 24, 32 = 104; reusable: 0, 16, 0, 8, 8 = 32.
  EXPECT_EQ(c.tokens_total, 104);
  EXPECT_EQ(c.tokens_seen_before, 32);
  EXPECT_EQ(c.blocks_seen_before, 4);
}

TEST(TraceTest, ArrivalsFromTimestampsAndPoisson) {
  const std::vector<TraceRequest> trace = HandTrace();
  const std::vector<absl::Duration> t = ArrivalOffsets(trace, 0, 2.0, 1);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[1], absl::Milliseconds(50));
  EXPECT_EQ(t[4], absl::Milliseconds(500));
  const std::vector<absl::Duration> p1 = ArrivalOffsets(trace, 10.0, 1.0, 7);
  const std::vector<absl::Duration> p2 = ArrivalOffsets(trace, 10.0, 1.0, 7);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(p1[0], absl::ZeroDuration());
  for (size_t i = 1; i < p1.size(); ++i) EXPECT_GT(p1[i], p1[i - 1]);
}

}  // namespace
}  // namespace pdserve::bench
