// DecodeScheduler against an in-memory cache client with injected faults: tokens equal the
// in-process generation, a stuck or failing admission never holds up the running batch, and
// every failure ends only its own stream.
#include "services/decode/decode_scheduler.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "decoder/generate.h"
#include "decoder/model.h"
#include "decoder/tokenizer.h"
#include "gtest/gtest.h"
#include "services/kv_client/fake_kv_cache_client.h"

namespace pdserve::decode {
namespace {

constexpr uint32_t kBlockSize = 16;
// A safety net for a broken scheduler, never a timing assumption: every wait is for an event.
constexpr absl::Duration kEventTimeout = absl::Seconds(60);

// Records one request's output. Thread-safe.
class RecordingSink : public DecodeSink {
 public:
  void OnToken(EmittedToken token) override {
    absl::MutexLock lock(&mu_);
    tokens_.push_back(token.token_id);
  }
  void OnFinish(const absl::Status& status, StopReason reason, const common::HopReport&,
                std::optional<EmittedToken> last) override {
    absl::MutexLock lock(&mu_);
    if (last.has_value()) tokens_.push_back(last->token_id);
    status_ = status;
    reason_ = reason;
    finished_ = true;
  }
  bool Cancelled() override {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  // Waits until the stream has produced `n` tokens or finished; false on timeout.
  bool WaitForTokens(size_t n) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return finished_ || tokens_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), kEventTimeout);
  }
  bool WaitForFinish() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&finished_), kEventTimeout);
  }
  bool finished() {
    absl::MutexLock lock(&mu_);
    return finished_;
  }
  std::vector<int32_t> tokens() {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  StopReason reason() {
    absl::MutexLock lock(&mu_);
    return reason_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int32_t> tokens_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  StopReason reason_ ABSL_GUARDED_BY(mu_) = StopReason::kLength;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// A prefilled sequence: its prompt K/V in the fake manager, the first sampled token, and what
// the in-process generation produces from the same prompt.
struct Prefilled {
  std::string id;
  DecodeInput input;
  std::vector<int32_t> expected;  // tokens the Decode call must emit
};

class DecodeSchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = decoder::Model::Load("synthetic:tiny");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
    auto tokenizer = decoder::Tokenizer::Create(*model_);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = tokenizer->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
  }

  void SetUp() override {
    cache_ = std::make_unique<kvclient::FakeKvCacheClient>(model_->kv_layout());
  }

  std::unique_ptr<DecodeScheduler> MakeScheduler(int max_batch = 8, int max_admissions = 2,
                                                 KvFetchMode fetch = KvFetchMode::kDelta) {
    DecodeSchedulerOptions options;
    options.model = model_;
    options.tokenizer = tokenizer_;
    options.cache = cache_.get();
    options.fetch = fetch;
    options.max_batch = max_batch;
    options.max_admissions = max_admissions;
    return std::make_unique<DecodeScheduler>(options);
  }

  // Prefills `prompt_len` tokens in process, stores the K/V in the fake manager and returns the
  // Decode request for `new_tokens` further tokens with the expected output.
  Prefilled Prefill(const std::string& id, int prompt_len, int new_tokens,
                    decoder::SamplingParams sampling = {}) {
    std::vector<int32_t> prompt(prompt_len);
    for (int i = 0; i < prompt_len; ++i) {
      prompt[i] = 3 + (i * 37 + static_cast<int>(id.size()) * 11 + id.back()) % 500;
    }
    const decoder::KvLayout layout = model_->kv_layout();
    std::vector<float> kv(prompt.size() * layout.TokenFloats());
    std::vector<float> logits(model_->config().vocab_size);
    absl::Status prefilled = model_->Prefill({}, prompt, absl::MakeSpan(kv), [](int) {},
                                             absl::MakeSpan(logits));
    EXPECT_TRUE(prefilled.ok()) << prefilled;
    decoder::Sampler sampler(sampling);
    const int32_t first = sampler.SampleAt(logits, 0);
    cache_->AddSequence(id, prompt, std::move(kv), kBlockSize, prompt.size());

    decoder::StopCondition stop;
    stop.max_new_tokens = new_tokens + 1;
    absl::StatusOr<decoder::GenerationResult> reference =
        decoder::Generate(*model_, prompt, sampling, stop);
    EXPECT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ(reference->tokens.front(), first);

    Prefilled p;
    p.id = id;
    p.input.sequence_id = id;
    p.input.last_token_id = first;
    p.input.position = prompt.size();
    p.input.step_index = 1;
    p.input.sampling = sampling;
    p.input.max_new_tokens = new_tokens;
    p.input.ignore_eos = true;
    p.expected.assign(reference->tokens.begin() + 1, reference->tokens.end());
    return p;
  }

  static bool Released(const std::vector<std::string>& released, const std::string& id) {
    return std::find(released.begin(), released.end(), id) != released.end();
  }

  static decoder::Model* model_;
  static decoder::Tokenizer* tokenizer_;
  std::unique_ptr<kvclient::FakeKvCacheClient> cache_;
};

decoder::Model* DecodeSchedulerTest::model_ = nullptr;
decoder::Tokenizer* DecodeSchedulerTest::tokenizer_ = nullptr;

TEST_F(DecodeSchedulerTest, TokensEqualInProcessGeneration) {
  decoder::SamplingParams seeded;
  seeded.temperature = 0.8f;
  seeded.top_k = 40;
  seeded.seed = 7;
  std::vector<Prefilled> requests = {Prefill("a", 5, 12), Prefill("bb", 16, 20),
                                     Prefill("ccc", 41, 9, seeded)};
  auto scheduler = MakeScheduler();
  std::vector<RecordingSink> sinks(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(scheduler->Submit(requests[i].input, &sinks[i]).ok());
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(sinks[i].WaitForFinish()) << requests[i].id;
    EXPECT_TRUE(sinks[i].status().ok()) << sinks[i].status();
    EXPECT_EQ(sinks[i].reason(), StopReason::kLength);
    EXPECT_EQ(sinks[i].tokens(), requests[i].expected) << requests[i].id;
  }
  scheduler.reset();  // drains the release worker
  for (const Prefilled& p : requests) EXPECT_TRUE(Released(cache_->released(), p.id)) << p.id;
}

TEST_F(DecodeSchedulerTest, OneSlotRunsRequestsInTurnWithTheSameTokens) {
  std::vector<Prefilled> requests = {Prefill("a", 7, 6), Prefill("b", 20, 6)};
  auto scheduler = MakeScheduler(/*max_batch=*/1);
  std::vector<RecordingSink> sinks(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(scheduler->Submit(requests[i].input, &sinks[i]).ok());
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(sinks[i].WaitForFinish());
    EXPECT_EQ(sinks[i].tokens(), requests[i].expected);
  }
}

TEST_F(DecodeSchedulerTest, FullFetchModeGivesTheSameTokens) {
  Prefilled p = Prefill("full", 33, 10);
  auto scheduler = MakeScheduler(8, 2, KvFetchMode::kFull);
  RecordingSink sink;
  ASSERT_TRUE(scheduler->Submit(p.input, &sink).ok());
  ASSERT_TRUE(sink.WaitForFinish());
  EXPECT_TRUE(sink.status().ok()) << sink.status();
  EXPECT_EQ(sink.tokens(), p.expected);
}

// The property the loop exists for: a joining sequence whose read is stuck does not hold up the
// running stream, which runs to its end; the joiner then enters with its K/V local.
TEST_F(DecodeSchedulerTest, StuckAdmissionReadDoesNotStallTheRunningStream) {
  Prefilled running = Prefill("running", 9, 400);
  Prefilled joining = Prefill("joining", 40, 8);
  auto scheduler = MakeScheduler();
  RecordingSink running_sink, joining_sink;
  ASSERT_TRUE(scheduler->Submit(running.input, &running_sink).ok());
  ASSERT_TRUE(running_sink.WaitForTokens(2));
  cache_->HoldReads(joining.id);
  ASSERT_TRUE(scheduler->Submit(joining.input, &joining_sink).ok());
  ASSERT_TRUE(cache_->WaitForReadsWaiting(1, kEventTimeout));
  const size_t before_stuck = running_sink.tokens().size();
  ASSERT_LT(before_stuck, running.expected.size()) << "the stream must still be running";

  ASSERT_TRUE(running_sink.WaitForFinish());
  EXPECT_TRUE(running_sink.status().ok());
  EXPECT_EQ(running_sink.tokens(), running.expected);
  EXPECT_FALSE(joining_sink.finished());
  EXPECT_EQ(cache_->reads_waiting(), 1);
  EXPECT_EQ(scheduler->active(), 1);

  cache_->OpenReads(joining.id);
  ASSERT_TRUE(joining_sink.WaitForFinish());
  EXPECT_TRUE(joining_sink.status().ok()) << joining_sink.status();
  EXPECT_EQ(joining_sink.tokens(), joining.expected);
}

TEST_F(DecodeSchedulerTest, ReadFailureEndsOnlyThatStream) {
  Prefilled good = Prefill("good", 12, 16);
  Prefilled bad = Prefill("bad", 30, 8);
  cache_->FailReads(bad.id, absl::UnavailableError("cache manager ReadKv: connection reset"));
  auto scheduler = MakeScheduler();
  RecordingSink good_sink, bad_sink;
  ASSERT_TRUE(scheduler->Submit(good.input, &good_sink).ok());
  ASSERT_TRUE(scheduler->Submit(bad.input, &bad_sink).ok());
  ASSERT_TRUE(bad_sink.WaitForFinish());
  EXPECT_EQ(bad_sink.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(bad_sink.reason(), StopReason::kError);
  EXPECT_TRUE(bad_sink.tokens().empty());
  ASSERT_TRUE(good_sink.WaitForFinish());
  EXPECT_TRUE(good_sink.status().ok());
  EXPECT_EQ(good_sink.tokens(), good.expected);
  scheduler.reset();
  // It passed the admission check, so it was this server's to release.
  EXPECT_TRUE(Released(cache_->released(), bad.id));
}

TEST_F(DecodeSchedulerTest, ReadMissingABlockIsDataLoss) {
  Prefilled good = Prefill("good", 12, 10);
  Prefilled partial = Prefill("partial", 35, 8);
  cache_->TruncateReads(partial.id);
  auto scheduler = MakeScheduler();
  RecordingSink good_sink, partial_sink;
  ASSERT_TRUE(scheduler->Submit(good.input, &good_sink).ok());
  ASSERT_TRUE(scheduler->Submit(partial.input, &partial_sink).ok());
  ASSERT_TRUE(partial_sink.WaitForFinish());
  EXPECT_EQ(partial_sink.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(partial_sink.status().message().find("'partial'"), absl::string_view::npos)
      << partial_sink.status();
  EXPECT_NE(partial_sink.status().message().find("covers 32 tokens, expected 35"),
            absl::string_view::npos)
      << partial_sink.status();
  ASSERT_TRUE(good_sink.WaitForFinish());
  EXPECT_EQ(good_sink.tokens(), good.expected);
}

TEST_F(DecodeSchedulerTest, ReadThatNeverReturnsIsAbandonedWhenTheClientCancels) {
  Prefilled running = Prefill("running", 9, 30);
  Prefilled stuck = Prefill("stuck", 20, 8);
  cache_->HoldReads(stuck.id);
  auto scheduler = MakeScheduler();
  RecordingSink running_sink, stuck_sink;
  ASSERT_TRUE(scheduler->Submit(stuck.input, &stuck_sink).ok());
  ASSERT_TRUE(scheduler->Submit(running.input, &running_sink).ok());
  ASSERT_TRUE(running_sink.WaitForTokens(3));
  EXPECT_FALSE(stuck_sink.finished());

  stuck_sink.Cancel();
  scheduler->NotifyCancelled();
  ASSERT_TRUE(stuck_sink.WaitForFinish());
  EXPECT_EQ(stuck_sink.status().code(), absl::StatusCode::kCancelled) << stuck_sink.status();
  EXPECT_EQ(stuck_sink.reason(), StopReason::kError);
  EXPECT_EQ(cache_->reads_cancelled(), 1);
  ASSERT_TRUE(running_sink.WaitForFinish());
  EXPECT_EQ(running_sink.tokens(), running.expected);
}

TEST_F(DecodeSchedulerTest, CancelWhileIdleIsNoticedWithoutASteppingBatch) {
  Prefilled stuck = Prefill("stuck", 20, 8);
  cache_->HoldReads(stuck.id);
  auto scheduler = MakeScheduler();
  RecordingSink sink;
  ASSERT_TRUE(scheduler->Submit(stuck.input, &sink).ok());
  // Once the read is in flight, cancel: the loop has nothing else to do.
  ASSERT_TRUE(cache_->WaitForReadsWaiting(1, kEventTimeout));
  sink.Cancel();
  scheduler->NotifyCancelled();
  ASSERT_TRUE(sink.WaitForFinish());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(DecodeSchedulerTest, ShutdownAbandonsAStuckReadAndEndsEveryRequest) {
  Prefilled stuck = Prefill("stuck", 20, 8);
  Prefilled queued = Prefill("queued", 9, 8);
  cache_->HoldReads(stuck.id);
  auto scheduler = MakeScheduler(/*max_batch=*/8, /*max_admissions=*/1);
  RecordingSink stuck_sink, queued_sink;
  ASSERT_TRUE(scheduler->Submit(stuck.input, &stuck_sink).ok());
  ASSERT_TRUE(cache_->WaitForReadsWaiting(1, kEventTimeout));
  ASSERT_TRUE(scheduler->Submit(queued.input, &queued_sink).ok());  // behind the stuck one
  scheduler.reset();
  EXPECT_TRUE(stuck_sink.finished());
  EXPECT_EQ(stuck_sink.status().code(), absl::StatusCode::kUnavailable) << stuck_sink.status();
  EXPECT_EQ(stuck_sink.reason(), StopReason::kError);
  EXPECT_TRUE(queued_sink.finished());
  EXPECT_EQ(queued_sink.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache_->reads_cancelled(), 1);
}

TEST_F(DecodeSchedulerTest, AppendFailureEndsOnlyThatStream) {
  Prefilled good = Prefill("good", 12, 10);
  Prefilled bad = Prefill("bad", 18, 10);
  cache_->FailAppends(bad.id, absl::NotFoundError("cache manager AppendKv: lease expired"));
  auto scheduler = MakeScheduler();
  RecordingSink good_sink, bad_sink;
  ASSERT_TRUE(scheduler->Submit(good.input, &good_sink).ok());
  ASSERT_TRUE(scheduler->Submit(bad.input, &bad_sink).ok());
  ASSERT_TRUE(bad_sink.WaitForFinish());
  EXPECT_EQ(bad_sink.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(bad_sink.tokens().empty()) << "no token is emitted before its K/V is acknowledged";
  ASSERT_TRUE(good_sink.WaitForFinish());
  EXPECT_EQ(good_sink.tokens(), good.expected);
}

TEST_F(DecodeSchedulerTest, AppendedTokensReachTheManager) {
  Prefilled p = Prefill("p", 15, 6);
  p.input.keep_sequence = true;
  auto scheduler = MakeScheduler();
  RecordingSink sink;
  ASSERT_TRUE(scheduler->Submit(p.input, &sink).ok());
  ASSERT_TRUE(sink.WaitForFinish());
  scheduler.reset();
  EXPECT_FALSE(Released(cache_->released(), p.id)) << "keep_sequence";
  std::vector<int32_t> held = cache_->tokens(p.id);
  ASSERT_EQ(held.size(), 15u + 6u);  // the last token's K/V is appended by the next call
  EXPECT_EQ(held[15], p.input.last_token_id);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(held[16 + i], p.expected[i]);
}

TEST_F(DecodeSchedulerTest, AdmissionChecksFailWithoutReleasing) {
  auto scheduler = MakeScheduler();
  Prefilled unknown = Prefill("unknown", 5, 4);
  unknown.input.sequence_id = "nowhere";
  Prefilled moved = Prefill("moved", 10, 4);
  moved.input.position = 11;
  Prefilled unfinished = Prefill("unfinished", 10, 4);
  cache_->AddSequence(unfinished.id, std::vector<int32_t>(10, 5),
                      std::vector<float>(5 * model_->kv_layout().TokenFloats()), kBlockSize, 5);
  RecordingSink unknown_sink, moved_sink, unfinished_sink;
  ASSERT_TRUE(scheduler->Submit(unknown.input, &unknown_sink).ok());
  ASSERT_TRUE(scheduler->Submit(moved.input, &moved_sink).ok());
  ASSERT_TRUE(scheduler->Submit(unfinished.input, &unfinished_sink).ok());
  ASSERT_TRUE(unknown_sink.WaitForFinish());
  ASSERT_TRUE(moved_sink.WaitForFinish());
  ASSERT_TRUE(unfinished_sink.WaitForFinish());
  EXPECT_EQ(unknown_sink.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(moved_sink.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(moved_sink.status().message().find("position: 11 but sequence 'moved' holds 10"),
            absl::string_view::npos)
      << moved_sink.status();
  EXPECT_EQ(unfinished_sink.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(unfinished_sink.status().message().find("5 of 10 prompt tokens"),
            absl::string_view::npos)
      << unfinished_sink.status();
  scheduler.reset();
  EXPECT_TRUE(cache_->released().empty()) << "none of them was this server's to release";
}

TEST_F(DecodeSchedulerTest, SubmitRefusesBadFieldsByName) {
  auto scheduler = MakeScheduler();
  RecordingSink sink;
  Prefilled p = Prefill("p", 5, 4);
  DecodeInput bad = p.input;
  bad.last_token_id = -1;
  absl::Status s = scheduler->Submit(bad, &sink);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("last_token_id: -1"), absl::string_view::npos) << s;
  bad = p.input;
  bad.max_new_tokens = 0;
  s = scheduler->Submit(bad, &sink);
  EXPECT_NE(s.message().find("limits.max_new_tokens: 0"), absl::string_view::npos) << s;
  bad = p.input;
  bad.sequence_id.clear();
  EXPECT_EQ(scheduler->Submit(bad, &sink).code(), absl::StatusCode::kInvalidArgument);
  bad = p.input;
  bad.position = 0;
  s = scheduler->Submit(bad, &sink);
  EXPECT_NE(s.message().find("position: 0"), absl::string_view::npos) << s;
  EXPECT_EQ(scheduler->active(), 0);
}

}  // namespace
}  // namespace pdserve::decode
