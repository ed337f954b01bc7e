// GenerateCall against in-memory fakes: the happy path, finishing on the first token,
// decode failover, re-prefill of lost sequences, retries, cancellation and rejected input.
#include "services/router/generate_call.h"

#include <memory>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/router/fake_backends.h"
#include "services/router/router_core.h"
#include "services/router/timer_thread.h"

namespace pdserve::router {
namespace {

using inference::v1::GenerateRequest;
using inference::v1::GenerateResponse;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::FakeCache;
using testing::FakeDecode;
using testing::FakeGenerate;
using testing::FakePrefill;

class RecordingSink : public GenerateSink {
 public:
  void Send(GenerateResponse message) override {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(finished_) << "Send after Finish";
    messages_.push_back(std::move(message));
  }
  void Finish(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(finished_) << "Finish twice";
    finished_ = true;
    status_ = std::move(status);
    done_.Notify();
  }
  absl::Status Wait() {
    EXPECT_TRUE(done_.WaitForNotificationWithTimeout(absl::Seconds(5)));
    absl::MutexLock lock(&mu_);
    return status_;
  }
  bool finished() {
    absl::MutexLock lock(&mu_);
    return finished_;
  }
  std::vector<int32_t> tokens() {
    absl::MutexLock lock(&mu_);
    std::vector<int32_t> out;
    for (const auto& m : messages_) out.insert(out.end(), m.token_ids().begin(), m.token_ids().end());
    return out;
  }
  std::vector<GenerateResponse> messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }

 private:
  absl::Mutex mu_;
  std::vector<GenerateResponse> messages_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
};

class GenerateCallTest : public ::testing::Test {
 protected:
  void Build(int prefill_members, int decode_members) {
    RouterBackends backends;
    auto cache = std::make_unique<FakeCache>();
    cache_ = cache.get();
    for (int i = 0; i < prefill_members; ++i) {
      auto fake = std::make_unique<FakePrefill>(cache_);
      prefill_.push_back(fake.get());
      backends.prefill_addresses.push_back("prefill-" + std::to_string(i));
      backends.prefill.push_back(std::move(fake));
    }
    for (int i = 0; i < decode_members; ++i) {
      auto fake = std::make_unique<FakeDecode>(cache_);
      decode_.push_back(fake.get());
      backends.decode_addresses.push_back("decode-" + std::to_string(i));
      backends.decode.push_back(std::move(fake));
    }
    backends.cache = std::move(cache);
    backends.scheduler = std::make_unique<TimerThread>();
    RouterOptions options;
    options.max_new_tokens_limit = 64;
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(4);
    absl::StatusOr<ModelInfo> model = LoadModelInfo("synthetic:tiny");
    ASSERT_TRUE(model.ok()) << model.status();
    core_ = std::make_unique<RouterCore>(options, *model, std::move(backends), &registry_);
    for (int i = 0; i < prefill_members; ++i) core_->prefill_pool().SetHealthy(i, true);
    for (int i = 0; i < decode_members; ++i) core_->decode_pool().SetHealthy(i, true);
  }

  static GenerateRequest Request(std::vector<int32_t> prompt, uint32_t max_new_tokens) {
    GenerateRequest request;
    request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
    request.mutable_limits()->set_max_new_tokens(max_new_tokens);
    return request;
  }

  absl::Status Run(const GenerateRequest& request, RecordingSink* sink) {
    call_ = core_->Generate(request, absl::Now() + absl::Seconds(10), sink);
    return sink->Wait();
  }

  common::MetricsRegistry registry_;
  std::unique_ptr<RouterCore> core_;
  FakeCache* cache_ = nullptr;
  std::vector<FakePrefill*> prefill_;
  std::vector<FakeDecode*> decode_;
  std::shared_ptr<GenerateCall> call_;
};

TEST_F(GenerateCallTest, PrefillThenDecodeStreamsEveryTokenAndReports) {
  Build(1, 1);
  const std::vector<int32_t> prompt = {5, 6, 7};
  RecordingSink sink;
  ASSERT_TRUE(Run(Request(prompt, 8), &sink).ok());
  EXPECT_THAT(sink.tokens(), ElementsAreArray(FakeGenerate(prompt, 8)));
  const std::vector<GenerateResponse> messages = sink.messages();
  ASSERT_EQ(messages.size(), 8u);
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    EXPECT_EQ(messages[i].finish_reason(), inference::v1::FINISH_REASON_UNSPECIFIED);
  }
  const GenerateResponse& last = messages.back();
  EXPECT_EQ(last.finish_reason(), inference::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(last.usage().prompt_tokens(), 3u);
  EXPECT_EQ(last.usage().completion_tokens(), 8u);
  EXPECT_EQ(last.report().prefill_compute_us(), 10u);
  EXPECT_EQ(last.report().decode_compute_us(), 5u);
  EXPECT_EQ(last.report().kv_bytes_written(), 100u);
  EXPECT_EQ(last.decode_retries(), 0u);

  ASSERT_EQ(decode_[0]->requests().size(), 1u);
  const inference::v1::DecodeRequest decode = decode_[0]->requests()[0];
  EXPECT_EQ(decode.last_token_id(), FakeGenerate(prompt, 1)[0]);
  EXPECT_EQ(decode.position(), 3u);
  EXPECT_EQ(decode.step_index(), 1u);
  EXPECT_EQ(decode.limits().max_new_tokens(), 7u);
  EXPECT_EQ(cache_->live(), 0u);  // the decode call released it
}

TEST_F(GenerateCallTest, FirstTokenFinishesWithoutDecodeAndReleasesTheSequence) {
  Build(1, 1);
  RecordingSink sink;
  ASSERT_TRUE(Run(Request({9, 9}, 1), &sink).ok());
  EXPECT_THAT(sink.tokens(), ElementsAreArray(FakeGenerate({9, 9}, 1)));
  EXPECT_EQ(sink.messages().back().finish_reason(), inference::v1::FINISH_REASON_LENGTH);
  EXPECT_TRUE(decode_[0]->requests().empty());
  EXPECT_EQ(cache_->released().size(), 1u);
  EXPECT_EQ(cache_->live(), 0u);
}

TEST_F(GenerateCallTest, FirstTokenThatIsAStopTokenFinishesWithStop) {
  Build(1, 1);
  GenerateRequest request = Request({4}, 10);
  request.mutable_limits()->add_stop_token_ids(FakeGenerate({4}, 1)[0]);
  RecordingSink sink;
  ASSERT_TRUE(Run(request, &sink).ok());
  EXPECT_EQ(sink.tokens().size(), 1u);
  EXPECT_EQ(sink.messages().back().finish_reason(), inference::v1::FINISH_REASON_STOP);
  EXPECT_TRUE(decode_[0]->requests().empty());
  EXPECT_EQ(cache_->live(), 0u);
}

TEST_F(GenerateCallTest, FailoverContinuesFromTheLastSentToken) {
  Build(1, 2);
  decode_[0]->SetFault({.after_messages = 3});
  const std::vector<int32_t> prompt = {1, 2, 3, 4};
  RecordingSink sink;
  ASSERT_TRUE(Run(Request(prompt, 10), &sink).ok());
  EXPECT_THAT(sink.tokens(), ElementsAreArray(FakeGenerate(prompt, 10)));
  EXPECT_EQ(sink.messages().back().decode_retries(), 1u);
  ASSERT_EQ(decode_[1]->requests().size(), 1u);
  const inference::v1::DecodeRequest resumed = decode_[1]->requests()[0];
  // 1 token from prefill + 3 from the dead member: g = 4.
  EXPECT_EQ(resumed.step_index(), 4u);
  EXPECT_EQ(resumed.position(), prompt.size() + 4 - 1);
  EXPECT_EQ(resumed.last_token_id(), FakeGenerate(prompt, 4)[3]);
  EXPECT_EQ(resumed.limits().max_new_tokens(), 6u);
  EXPECT_EQ(prefill_[0]->requests().size(), 1u);  // no re-prefill needed
}

TEST_F(GenerateCallTest, SequenceLongerThanExpectedIsPrefilledAgain) {
  Build(1, 2);
  decode_[0]->SetFault({.after_messages = 2, .append_next = true});
  const std::vector<int32_t> prompt = {8, 8, 8};
  RecordingSink sink;
  ASSERT_TRUE(Run(Request(prompt, 7), &sink).ok());
  EXPECT_THAT(sink.tokens(), ElementsAreArray(FakeGenerate(prompt, 7)));
  ASSERT_EQ(prefill_[0]->requests().size(), 2u);
  EXPECT_EQ(prefill_[0]->requests()[1].resume_generated(), 3u);
}

TEST_F(GenerateCallTest, LostSequenceIsPrefilledAgainWithPromptPlusGenerated) {
  Build(1, 1);
  decode_[0]->SetFault({.after_messages = 4, .status = absl::NotFoundError("sequence_id: lost"),
                        .lose_sequence = true});
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5};
  RecordingSink sink;
  GenerateRequest request = Request(prompt, 12);
  ASSERT_TRUE(Run(request, &sink).ok());
  const std::vector<int32_t> expected = FakeGenerate(prompt, 12);
  EXPECT_THAT(sink.tokens(), ElementsAreArray(expected));
  const std::vector<inference::v1::PrefillRequest> prefills = prefill_[0]->requests();
  ASSERT_EQ(prefills.size(), 2u);
  EXPECT_EQ(prefills[1].resume_generated(), 5u);  // 1 from prefill + 4 from decode
  std::vector<int32_t> resumed_prompt = prompt;
  resumed_prompt.insert(resumed_prompt.end(), expected.begin(), expected.begin() + 5);
  EXPECT_THAT(std::vector<int32_t>(prefills[1].prompt_token_ids().begin(),
                                   prefills[1].prompt_token_ids().end()),
              ElementsAreArray(resumed_prompt));
}

TEST_F(GenerateCallTest, ManagerUnavailableDuringRecoveryIsWaitedFor) {
  Build(1, 2);
  decode_[0]->SetFault({.after_messages = 1});
  cache_->FailGets(3);
  const std::vector<int32_t> prompt = {2, 7};
  RecordingSink sink;
  ASSERT_TRUE(Run(Request(prompt, 6), &sink).ok());
  EXPECT_THAT(sink.tokens(), ElementsAreArray(FakeGenerate(prompt, 6)));
}

TEST_F(GenerateCallTest, UnavailablePrefillMemberIsRetriedOnAnother) {
  Build(2, 1);
  prefill_[0]->FailNext(1, absl::UnavailableError("down"));
  prefill_[1]->FailNext(1, absl::UnavailableError("down"));
  RecordingSink sink;
  ASSERT_TRUE(Run(Request({6}, 3), &sink).ok());
  EXPECT_EQ(prefill_[0]->requests().size() + prefill_[1]->requests().size(), 3u);
  EXPECT_THAT(sink.tokens(), ElementsAreArray(FakeGenerate({6}, 3)));
}

TEST_F(GenerateCallTest, PrefillInvalidArgumentIsNotRetried) {
  Build(2, 1);
  prefill_[0]->FailNext(1, absl::InvalidArgumentError("prompt: too long"));
  prefill_[1]->FailNext(1, absl::InvalidArgumentError("prompt: too long"));
  RecordingSink sink;
  const absl::Status status = Run(Request({6}, 3), &sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(prefill_[0]->requests().size() + prefill_[1]->requests().size(), 1u);
}

TEST_F(GenerateCallTest, RetriesGiveUpAfterTheBudget) {
  Build(1, 1);
  decode_[0]->SetFault({.after_messages = 0, .repeat = true});  // every call dies at once
  RecordingSink sink;
  const absl::Status status = Run(Request({1}, 5), &sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sink.tokens().size(), 1u);
  EXPECT_EQ(cache_->live(), 0u);  // the router released what it held
}

TEST_F(GenerateCallTest, CancelStopsTheDecodeStreamAndEndsCancelled) {
  Build(1, 1);
  decode_[0]->SetFault({.after_messages = 2, .hang = true});
  RecordingSink sink;
  call_ = core_->Generate(Request({1, 2}, 20), absl::Now() + absl::Seconds(10), &sink);
  EXPECT_FALSE(sink.finished());
  EXPECT_EQ(sink.tokens().size(), 3u);
  call_->Cancel();
  EXPECT_EQ(sink.Wait().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(decode_[0]->cancelled());
}

TEST_F(GenerateCallTest, RejectedRequestsMakeNoDownstreamCall) {
  Build(1, 1);
  GenerateRequest unknown_model = Request({1}, 4);
  unknown_model.set_model("synthetic:other");
  RecordingSink sink1;
  EXPECT_EQ(Run(unknown_model, &sink1).code(), absl::StatusCode::kNotFound);
  RecordingSink sink2;
  EXPECT_EQ(Run(Request({}, 4), &sink2).code(), absl::StatusCode::kInvalidArgument);
  RecordingSink sink3;
  EXPECT_EQ(Run(Request({1}, 0), &sink3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(prefill_[0]->requests().empty());
}

TEST_F(GenerateCallTest, TextPromptIsTokenizedByTheRouter) {
  Build(1, 1);
  GenerateRequest request;
  request.set_prompt_text("hi");
  request.mutable_limits()->set_max_new_tokens(2);
  RecordingSink sink;
  ASSERT_TRUE(Run(request, &sink).ok());
  const std::vector<inference::v1::PrefillRequest> prefills = prefill_[0]->requests();
  ASSERT_EQ(prefills.size(), 1u);
  // Byte-level fallback of the synthetic model: byte b -> 3 + b.
  EXPECT_THAT(std::vector<int32_t>(prefills[0].prompt_token_ids().begin(),
                                   prefills[0].prompt_token_ids().end()),
              ElementsAre(3 + 'h', 3 + 'i'));
  EXPECT_TRUE(prefills[0].prompt_text().empty());
}

}  // namespace
}  // namespace pdserve::router
