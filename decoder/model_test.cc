// Model tests: determinism contracts (bit-exact), cache vs recomputation, batching, validation.
#include "decoder/model.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "decoder/generate.h"
#include "decoder/test_util.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

const Model& Tiny() {
  static const Model* model = [] {
    auto m = Model::Load("synthetic:tiny");
    if (!m.ok()) std::abort();
    return m->release();
  }();
  return *model;
}

std::vector<int32_t> Prompt(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(n);
  for (int32_t& t : p) t = static_cast<int32_t>(rng() % Tiny().config().vocab_size);
  return p;
}

struct PrefillOut {
  std::vector<float> kv;
  std::vector<float> logits;
};

PrefillOut RunPrefill(const Model& m, KvView past, absl::Span<const int32_t> tokens) {
  PrefillOut out{std::vector<float>(tokens.size() * m.kv_layout().TokenFloats()),
                 std::vector<float>(m.config().vocab_size)};
  EXPECT_TRUE(m.Prefill(past, tokens, absl::MakeSpan(out.kv), [](int) {},
                        absl::MakeSpan(out.logits))
                  .ok());
  return out;
}

void ExpectRelClose(const std::vector<float>& a, const std::vector<float>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  double max_abs = 0;
  for (float x : b) max_abs = std::max(max_abs, std::abs(double{x}));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * max_abs) << i;
}

TEST(ModelTest, ConfigAndLayout) {
  const Model& m = Tiny();
  EXPECT_EQ(m.name(), "synthetic:tiny");
  EXPECT_EQ(m.config().num_layers, 2);
  EXPECT_EQ(m.kv_layout(), (KvLayout{2, 2, 16}));
  EXPECT_EQ(m.kv_layout().TokenFloats(), 2 * 2 * 2 * 16);
}

TEST(ModelTest, PrefillSplitIntoTwoCallsIsBitIdentical) {
  const Model& m = Tiny();
  const auto prompt = Prompt(40, 1);
  const auto whole = RunPrefill(m, {}, prompt);
  const int64_t tf = m.kv_layout().TokenFloats();
  for (int split : {1, 15, 16, 17, 39}) {
    const auto first = RunPrefill(m, {}, absl::MakeConstSpan(prompt).subspan(0, split));
    const KvSpan past{first.kv.data(), split};
    const auto second =
        RunPrefill(m, KvView(&past, 1), absl::MakeConstSpan(prompt).subspan(split));
    EXPECT_EQ(second.logits, whole.logits) << "split " << split;
    EXPECT_TRUE(std::equal(first.kv.begin(), first.kv.end(), whole.kv.begin()));
    EXPECT_TRUE(std::equal(second.kv.begin(), second.kv.end(), whole.kv.begin() + split * tf));
  }
}

TEST(ModelTest, OnLayerRunsInOrderAfterLayerKvIsFinal) {
  const Model& m = Tiny();
  const auto prompt = Prompt(5, 2);
  const auto ref = RunPrefill(m, {}, prompt);
  const KvLayout layout = m.kv_layout();
  std::vector<float> kv(ref.kv.size(), NAN), logits(m.config().vocab_size);
  std::vector<int> layers;
  ASSERT_TRUE(m.Prefill({}, prompt, absl::MakeSpan(kv),
                        [&](int layer) {
                          layers.push_back(layer);
                          for (size_t t = 0; t < prompt.size(); ++t) {
                            const int64_t off = t * layout.TokenFloats() + layout.Offset(layer, 0, 0);
                            for (int64_t i = 0; i < layout.LayerFloats(); ++i) {
                              ASSERT_EQ(kv[off + i], ref.kv[off + i]);
                            }
                          }
                        },
                        absl::MakeSpan(logits))
                  .ok());
  EXPECT_EQ(layers, std::vector<int>({0, 1}));
}

// DecodeStep's on_layer: every layer in order, each called once that layer's K/V of every item
// is final (equal to the finished step's), and the logits are unchanged by the callback.
TEST(ModelTest, DecodeStepOnLayerRunsInOrderAfterLayerKvIsFinal) {
  const Model& m = Tiny();
  const KvLayout layout = m.kv_layout();
  const int64_t tf = layout.TokenFloats();
  const int vocab = m.config().vocab_size;
  const auto p0 = RunPrefill(m, {}, Prompt(5, 3));
  const auto p1 = RunPrefill(m, {}, Prompt(9, 4));
  const KvSpan s0{p0.kv.data(), 5}, s1{p1.kv.data(), 9};
  const Model::DecodeItem items[] = {{11, KvView(&s0, 1)}, {12, KvView(&s1, 1)}};
  std::vector<float> ref_kv(2 * tf), ref_logits(2 * vocab);
  ASSERT_TRUE(m.DecodeStep(items, absl::MakeSpan(ref_kv), absl::MakeSpan(ref_logits)).ok());

  std::vector<float> kv(2 * tf, NAN), logits(2 * vocab);
  std::vector<int> layers;
  ASSERT_TRUE(m.DecodeStep(items, absl::MakeSpan(kv),
                           [&](int layer) {
                             layers.push_back(layer);
                             for (int64_t item = 0; item < 2; ++item) {
                               const int64_t off = item * tf + layout.Offset(layer, 0, 0);
                               for (int64_t i = 0; i < layout.LayerFloats(); ++i) {
                                 ASSERT_EQ(kv[off + i], ref_kv[off + i]);
                               }
                             }
                           },
                           absl::MakeSpan(logits))
                  .ok());
  EXPECT_EQ(layers, std::vector<int>({0, 1}));
  EXPECT_EQ(kv, ref_kv);
  EXPECT_EQ(logits, ref_logits);
}

// For each prompt length: 64 greedy steps with the cache equal recomputation (tokens and
// logits, bit-exact and hence also within 1e-4 relative).
TEST(ModelTest, CachedDecodeEqualsRecomputation) {
  const Model& m = Tiny();
  const int64_t tf = m.kv_layout().TokenFloats();
  const int vocab = m.config().vocab_size;
  for (int len : {1, 15, 16, 17, 100}) {
    const auto prompt = Prompt(len, len);
    auto first = RunPrefill(m, {}, prompt);
    std::vector<float> cache = first.kv;
    std::vector<float> logits = first.logits;
    std::vector<int32_t> seq = prompt;
    std::set<int32_t> distinct;
    for (int step = 0; step < 64; ++step) {
      const int32_t token = static_cast<int32_t>(
          std::max_element(logits.begin(), logits.end()) - logits.begin());
      distinct.insert(token);
      // Recompute the whole sequence (with the new token) from scratch.
      seq.push_back(token);
      const auto recomputed = RunPrefill(m, {}, seq);
      // Cached step: past in 16-token spans.
      std::vector<KvSpan> spans;
      const int64_t n = static_cast<int64_t>(seq.size()) - 1;
      for (int64_t p = 0; p < n; p += 16) spans.push_back({cache.data() + p * tf, std::min<int64_t>(16, n - p)});
      const Model::DecodeItem item{token, spans};
      std::vector<float> kv(tf);
      std::vector<float> step_logits(vocab);
      ASSERT_TRUE(m.DecodeStep(absl::MakeConstSpan(&item, 1), absl::MakeSpan(kv),
                               absl::MakeSpan(step_logits)).ok());
      ExpectRelClose(step_logits, recomputed.logits, 1e-4);
      ASSERT_EQ(step_logits, recomputed.logits) << "len " << len << " step " << step;
      ASSERT_TRUE(std::equal(kv.begin(), kv.end(), recomputed.kv.end() - tf));
      cache.insert(cache.end(), kv.begin(), kv.end());
      logits = step_logits;
    }
    EXPECT_GT(distinct.size(), 4u) << "greedy output is degenerate for len " << len;
  }
}

TEST(ModelTest, DecodeWithoutPromptKvGivesDifferentLogits) {
  const Model& m = Tiny();
  const int64_t tf = m.kv_layout().TokenFloats();
  const auto prompt = Prompt(20, 3);
  StopCondition stop{4, {}};
  auto gen = Generate(m, prompt, SamplingParams{}, stop);
  ASSERT_TRUE(gen.ok());
  std::vector<int32_t> seq = prompt;
  seq.insert(seq.end(), gen->tokens.begin(), gen->tokens.end() - 1);
  const auto all = RunPrefill(m, {}, seq);
  const int64_t n = static_cast<int64_t>(seq.size());
  const int64_t p = static_cast<int64_t>(prompt.size());
  const int32_t token = gen->tokens.back();
  std::vector<float> kv(tf), right(m.config().vocab_size), wrong(m.config().vocab_size);
  const KvSpan full{all.kv.data(), n};
  const Model::DecodeItem good{token, KvView(&full, 1)};
  ASSERT_TRUE(m.DecodeStep(absl::MakeConstSpan(&good, 1), absl::MakeSpan(kv), absl::MakeSpan(right)).ok());
  // Only the generated tokens' K/V: the query sits at the wrong position and misses the prompt.
  const KvSpan generated_only{all.kv.data() + p * tf, n - p};
  const Model::DecodeItem bad{token, KvView(&generated_only, 1)};
  ASSERT_TRUE(m.DecodeStep(absl::MakeConstSpan(&bad, 1), absl::MakeSpan(kv), absl::MakeSpan(wrong)).ok());
  double diff = 0;
  for (size_t i = 0; i < right.size(); ++i) diff = std::max(diff, std::abs(double{right[i]} - wrong[i]));
  EXPECT_GT(diff, 1e-2);
  // And the correct step matches recomputation.
  seq.push_back(token);
  EXPECT_EQ(right, RunPrefill(m, {}, seq).logits);
}

TEST(ModelTest, BatchedDecodeEqualsSingleDecodes) {
  const Model& m = Tiny();
  const int64_t tf = m.kv_layout().TokenFloats();
  const int vocab = m.config().vocab_size;
  std::vector<PrefillOut> prefix;
  std::vector<std::vector<KvSpan>> spans(8);
  std::vector<Model::DecodeItem> batch;
  const int lengths[8] = {1, 5, 16, 17, 31, 48, 64, 90};
  for (int i = 0; i < 8; ++i) prefix.push_back(RunPrefill(m, {}, Prompt(lengths[i], 10 + i)));
  for (int i = 0; i < 8; ++i) {
    for (int64_t p = 0; p < lengths[i]; p += 16) {
      spans[i].push_back({prefix[i].kv.data() + p * tf, std::min<int64_t>(16, lengths[i] - p)});
    }
    batch.push_back({static_cast<int32_t>(7 * i + 3), spans[i]});
  }
  std::vector<float> kv(8 * tf), logits(8 * vocab);
  ASSERT_TRUE(m.DecodeStep(batch, absl::MakeSpan(kv), absl::MakeSpan(logits)).ok());
  for (int i = 0; i < 8; ++i) {
    std::vector<float> kv1(tf), logits1(vocab);
    ASSERT_TRUE(m.DecodeStep(absl::MakeConstSpan(&batch[i], 1), absl::MakeSpan(kv1),
                             absl::MakeSpan(logits1)).ok());
    EXPECT_TRUE(std::equal(logits1.begin(), logits1.end(), logits.begin() + i * vocab)) << i;
    EXPECT_TRUE(std::equal(kv1.begin(), kv1.end(), kv.begin() + i * tf)) << i;
  }
  // Reordered batch gives the same per-item results.
  std::vector<Model::DecodeItem> reversed(batch.rbegin(), batch.rend());
  std::vector<float> kv_r(8 * tf), logits_r(8 * vocab);
  ASSERT_TRUE(m.DecodeStep(reversed, absl::MakeSpan(kv_r), absl::MakeSpan(logits_r)).ok());
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(std::equal(logits_r.begin() + (7 - i) * vocab, logits_r.begin() + (8 - i) * vocab,
                           logits.begin() + i * vocab));
  }
}

// A long sequence's attention is split across threads by key segment when the batch is smaller
// than the pool (and by kv heads too when that leaves a thread idle), and its K/V may sit in
// head-major blocks (the decode server's local copy). None of it may change a bit: a 3-thread
// model must match a 1-thread model, whichever block order the K/V is in, for one or two long
// sequences (split by segment), three (one item per sequence, not split) and one short one (a
// single segment, split by kv heads).
TEST(ModelTest, LongDecodeIsBitIdenticalAcrossThreadsSplitsAndBlockOrders) {
  auto three = Model::Load("synthetic:tiny", LoadOptions{3});
  auto one = Model::Load("synthetic:tiny", LoadOptions{1});
  ASSERT_TRUE(three.ok() && one.ok());
  const int64_t tf = Tiny().kv_layout().TokenFloats();
  const int vocab = Tiny().config().vocab_size;
  const int lengths[4] = {700, 290, 520, 100};
  std::vector<PrefillOut> prefix;
  std::vector<std::vector<float>> blocks(4);
  std::vector<std::vector<KvSpan>> token_major(4), head_major(4);
  for (int i = 0; i < 4; ++i) {
    prefix.push_back(RunPrefill(**one, {}, Prompt(lengths[i], 40 + i)));
    blocks[i].assign((lengths[i] + 15) / 16 * 16 * tf, NAN);
    for (int64_t p = 0; p < lengths[i]; p += 16) {
      const int64_t len = std::min<int64_t>(16, lengths[i] - p);
      token_major[i].push_back({prefix[i].kv.data() + p * tf, len});
      CopyToBlock(Tiny().kv_layout(), prefix[i].kv.data() + p * tf, len, 16, 0,
                  blocks[i].data() + p * tf);
      head_major[i].push_back({blocks[i].data() + p * tf, len, 16});
    }
  }
  // Decodes sequences [first, first + count).
  auto step = [&](const Model& m, const std::vector<std::vector<KvSpan>>& spans, int first,
                  int count) {
    std::vector<Model::DecodeItem> items;
    for (int i = first; i < first + count; ++i) {
      items.push_back({static_cast<int32_t>(5 + i), spans[i]});
    }
    std::vector<float> kv(count * tf), logits(count * vocab);
    EXPECT_TRUE(m.DecodeStep(items, absl::MakeSpan(kv), absl::MakeSpan(logits)).ok());
    return logits;
  };
  const std::vector<float> ref = step(**one, token_major, 0, 3);
  const std::vector<float> ref0(ref.begin(), ref.begin() + vocab);
  const std::vector<float> ref01(ref.begin(), ref.begin() + 2 * vocab);
  EXPECT_EQ(step(**three, token_major, 0, 1), ref0);
  EXPECT_EQ(step(**three, head_major, 0, 1), ref0);
  EXPECT_EQ(step(**one, head_major, 0, 1), ref0);
  EXPECT_EQ(step(**three, head_major, 0, 2), ref01);
  EXPECT_EQ(step(**three, token_major, 0, 2), ref01);
  EXPECT_EQ(step(**three, head_major, 0, 3), ref);
  const std::vector<float> short_ref = step(**one, token_major, 3, 1);
  EXPECT_EQ(step(**three, head_major, 3, 1), short_ref);
  EXPECT_EQ(step(**three, token_major, 3, 1), short_ref);
}

TEST(ModelTest, ValidationErrorsNameTheField) {
  const Model& m = Tiny();
  const int64_t tf = m.kv_layout().TokenFloats();
  const int vocab = m.config().vocab_size;
  std::vector<float> kv(2 * tf), logits(vocab);
  auto prefill = [&](KvView past, std::vector<int32_t> tokens, int64_t kv_size, int64_t logits_size) {
    std::vector<float> k(kv_size), l(logits_size);
    return m.Prefill(past, tokens, absl::MakeSpan(k), [](int) {}, absl::MakeSpan(l));
  };
  auto s = prefill({}, {}, 0, vocab);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokens"), std::string::npos);
  s = prefill({}, {1, vocab}, 2 * tf, vocab);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokens[1] = 512"), std::string::npos) << s;
  s = prefill({}, {1, -1}, 2 * tf, vocab);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = prefill({}, {1, 2}, 2 * tf - 1, vocab);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("kv_out"), std::string::npos);
  s = prefill({}, {1, 2}, 2 * tf, vocab + 1);
  EXPECT_NE(s.message().find("logits_out"), std::string::npos);
  // Position past max_position_embeddings (the past is never read when rejected).
  const std::vector<float> big(1);
  const KvSpan huge{big.data(), m.config().max_position_embeddings};
  s = prefill(KvView(&huge, 1), {1}, tf, vocab);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("max_position_embeddings"), std::string::npos) << s;
  const KvSpan null_span{nullptr, 3};
  s = prefill(KvView(&null_span, 1), {1}, tf, vocab);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // A head-major block holding more tokens than it has room for, or a negative capacity.
  std::vector<float> block(16 * tf);
  for (const KvSpan& bad : {KvSpan{block.data(), 17, 16}, KvSpan{block.data(), 4, -1}}) {
    s = prefill(KvView(&bad, 1), {1}, tf, vocab);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("past[0].block_capacity"), std::string::npos) << s;
    const Model::DecodeItem item{1, KvView(&bad, 1)};
    std::vector<float> kv1(tf);
    s = m.DecodeStep(absl::MakeConstSpan(&item, 1), absl::MakeSpan(kv1), absl::MakeSpan(logits));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("batch[0].past[0].block_capacity"), std::string::npos) << s;
  }

  const Model::DecodeItem items[2] = {{1, {}}, {vocab + 5, {}}};
  std::vector<float> l2(2 * vocab);
  s = m.DecodeStep(items, absl::MakeSpan(kv), absl::MakeSpan(l2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("batch[1].token"), std::string::npos) << s;
  s = m.DecodeStep({}, absl::MakeSpan(kv), absl::MakeSpan(l2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const Model::DecodeItem far{1, KvView(&huge, 1)};
  std::vector<float> kv1(tf);
  s = m.DecodeStep(absl::MakeConstSpan(&far, 1), absl::MakeSpan(kv1), absl::MakeSpan(logits));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("max_position_embeddings"), std::string::npos) << s;
}

// Hidden and intermediate sizes past the matmul's inner block (256) and batches past its
// blocked-path threshold: still bit-identical between one and two prefill calls and decode.
TEST(ModelTest, WideModelIsBitIdenticalAcrossSplitsAndBatches) {
  ModelConfig c = testing::SmallConfig(4, 2, false);
  c.hidden_size = 320;
  c.intermediate_size = 600;
  c.head_dim = 80;
  testing::TempDir dir;
  testing::WriteModelDir(dir.path(), c, testing::SyntheticTensors(c), DType::kF32, 1);
  auto loaded = Model::Load(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Model& m = **loaded;
  const int64_t tf = m.kv_layout().TokenFloats();
  std::vector<int32_t> prompt(70);
  for (int i = 0; i < 70; ++i) prompt[i] = (i * 37 + 11) % c.vocab_size;
  const auto whole = RunPrefill(m, {}, prompt);
  const auto first = RunPrefill(m, {}, absl::MakeConstSpan(prompt).subspan(0, 41));
  const KvSpan past{first.kv.data(), 41};
  const auto second = RunPrefill(m, KvView(&past, 1), absl::MakeConstSpan(prompt).subspan(41));
  EXPECT_EQ(second.logits, whole.logits);
  // The last prompt token decoded alone, attending to the first 69 tokens' K/V.
  const KvSpan head{whole.kv.data(), 69};
  const Model::DecodeItem item{prompt.back(), KvView(&head, 1)};
  std::vector<float> kv(tf), logits(c.vocab_size);
  ASSERT_TRUE(m.DecodeStep(absl::MakeConstSpan(&item, 1), absl::MakeSpan(kv), absl::MakeSpan(logits)).ok());
  EXPECT_EQ(logits, whole.logits);
  // The same item in a batch of 30 (the blocked matmul path).
  std::vector<Model::DecodeItem> batch(30, item);
  std::vector<float> kv30(30 * tf), logits30(30 * c.vocab_size);
  ASSERT_TRUE(m.DecodeStep(batch, absl::MakeSpan(kv30), absl::MakeSpan(logits30)).ok());
  EXPECT_TRUE(std::equal(logits.begin(), logits.end(), logits30.begin() + 17 * c.vocab_size));
}

TEST(ModelTest, UnknownSyntheticNameIsNotFound) {
  EXPECT_EQ(Model::Load("synthetic:nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Model::Load("/nonexistent/dir").status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelTest, ThreadCountDoesNotChangeResults) {
  auto one = Model::Load("synthetic:tiny", LoadOptions{1});
  ASSERT_TRUE(one.ok());
  const auto prompt = Prompt(33, 4);
  EXPECT_EQ(RunPrefill(**one, {}, prompt).logits, RunPrefill(Tiny(), {}, prompt).logits);
}

}  // namespace
}  // namespace pdserve::decoder
