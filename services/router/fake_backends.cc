// The fakes' behaviour: a miniature of the real services' contracts.
#include "services/router/fake_backends.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace pdserve::router::testing {
namespace {

class NoopHandle : public CallHandle {
 public:
  void Cancel() override {}
};

// A stream parked until Cancel, which ends it CANCELLED.
class HangingStream : public CallHandle {
 public:
  HangingStream(DecodeCallbacks callbacks, std::function<void()> on_cancel)
      : callbacks_(std::move(callbacks)), on_cancel_(std::move(on_cancel)) {}
  void Cancel() override {
    DecodeCallbacks callbacks;
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      done_ = true;
      callbacks = std::move(callbacks_);
    }
    on_cancel_();
    callbacks.on_done(absl::CancelledError("cancelled by the router"));
  }

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  DecodeCallbacks callbacks_ ABSL_GUARDED_BY(mu_);
  const std::function<void()> on_cancel_;
};

}  // namespace

int32_t FakeNextToken(absl::Span<const int32_t> sequence) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : sequence) h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ull;
  return static_cast<int32_t>(3 + (h >> 17) % 256);
}

std::vector<int32_t> FakeGenerate(absl::Span<const int32_t> prompt, int n) {
  std::vector<int32_t> sequence(prompt.begin(), prompt.end());
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(FakeNextToken(sequence));
    sequence.push_back(out.back());
  }
  return out;
}

std::string FakeCache::Create(absl::Span<const int32_t> prompt) {
  absl::MutexLock lock(&mu_);
  std::string id = absl::StrCat("seq-", next_id_++);
  sequences_[id] = {std::vector<int32_t>(prompt.begin(), prompt.end()), prompt.size()};
  return id;
}

absl::Status FakeCache::Append(const std::string& id, uint64_t position, int32_t token) {
  absl::MutexLock lock(&mu_);
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return absl::NotFoundError(absl::StrCat("sequence_id: ", id));
  if (it->second.length != position) {
    return absl::FailedPreconditionError(
        absl::StrCat("position ", position, " != length ", it->second.length));
  }
  it->second.tokens.resize(position);
  it->second.tokens.push_back(token);
  it->second.length = position + 1;
  return absl::OkStatus();
}

absl::StatusOr<FakeCache::Sequence> FakeCache::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return absl::NotFoundError(absl::StrCat("sequence_id: ", id));
  return it->second;
}

void FakeCache::Lose(const std::string& id) {
  absl::MutexLock lock(&mu_);
  sequences_.erase(id);
}

size_t FakeCache::live() const {
  absl::MutexLock lock(&mu_);
  return sequences_.size();
}

std::vector<std::string> FakeCache::released() const {
  absl::MutexLock lock(&mu_);
  return released_;
}

void FakeCache::FailGets(int times) {
  absl::MutexLock lock(&mu_);
  failing_gets_ = times;
}

void FakeCache::ReleaseSequence(const std::string& sequence_id, absl::Time,
                                std::function<void(absl::Status)> done) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    released_.push_back(sequence_id);
    status = sequences_.erase(sequence_id) > 0
                 ? absl::OkStatus()
                 : absl::NotFoundError(absl::StrCat("sequence_id: ", sequence_id));
  }
  done(status);
}

void FakeCache::GetSequence(
    const std::string& sequence_id, absl::Time,
    std::function<void(absl::StatusOr<kvcache::v1::GetSequenceResponse>)> done) {
  {
    absl::MutexLock lock(&mu_);
    if (failing_gets_ > 0) {
      --failing_gets_;
      done(absl::UnavailableError("cache manager restarting"));
      return;
    }
  }
  absl::StatusOr<Sequence> sequence = Get(sequence_id);
  if (!sequence.ok()) {
    done(sequence.status());
    return;
  }
  kvcache::v1::GetSequenceResponse response;
  response.set_sequence_id(sequence_id);
  response.set_num_tokens(sequence->length);
  response.mutable_token_ids()->Add(sequence->tokens.begin(), sequence->tokens.end());
  done(std::move(response));
}

void FakePrefill::FailNext(int n, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_ = n;
  failure_ = std::move(status);
}

std::vector<inference::v1::PrefillRequest> FakePrefill::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

std::shared_ptr<CallHandle> FakePrefill::Prefill(const inference::v1::PrefillRequest& request,
                                                 absl::Time, PrefillDone done) {
  absl::Status failure;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    if (failures_ > 0) {
      --failures_;
      failure = failure_;
    }
  }
  if (!failure.ok()) {
    done(failure);
    return std::make_shared<NoopHandle>();
  }
  const std::vector<int32_t> prompt(request.prompt_token_ids().begin(),
                                    request.prompt_token_ids().end());
  inference::v1::PrefillResponse response;
  response.set_sequence_id(cache_->Create(prompt));
  response.set_first_token_id(FakeNextToken(prompt));
  response.set_first_text(absl::StrCat("<", response.first_token_id(), ">"));
  response.set_prompt_tokens(static_cast<uint32_t>(prompt.size()));
  response.mutable_report()->set_prefill_compute_us(10);
  response.mutable_report()->set_kv_bytes_written(100);
  done(std::move(response));
  return std::make_shared<NoopHandle>();
}

void FakeDecode::SetFault(Fault fault) {
  absl::MutexLock lock(&mu_);
  fault_ = std::move(fault);
}

std::vector<inference::v1::DecodeRequest> FakeDecode::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

bool FakeDecode::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

std::shared_ptr<CallHandle> FakeDecode::Decode(const inference::v1::DecodeRequest& request,
                                               absl::Time, DecodeCallbacks callbacks) {
  Fault fault;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    fault = fault_;
    if (!fault_.repeat) fault_ = Fault();
  }
  const std::string& id = request.sequence_id();
  int32_t last = request.last_token_id();
  uint64_t position = request.position();
  absl::StatusOr<FakeCache::Sequence> sequence = cache_->Get(id);
  if (!sequence.ok()) {
    callbacks.on_done(sequence.status());
    return std::make_shared<NoopHandle>();
  }
  if (sequence->length != position) {
    callbacks.on_done(absl::FailedPreconditionError(
        absl::StrCat("position: ", position, " but the sequence has ", sequence->length)));
    return std::make_shared<NoopHandle>();
  }
  const auto& stops = request.limits().stop_token_ids();
  for (uint32_t i = 0; i < request.limits().max_new_tokens(); ++i) {
    if (fault.after_messages >= 0 && static_cast<int>(i) == fault.after_messages) {
      if (fault.hang) {
        return std::make_shared<HangingStream>(std::move(callbacks), [this] {
          absl::MutexLock lock(&mu_);
          cancelled_ = true;
        });
      }
      if (fault.append_next) (void)cache_->Append(id, position, last);
      if (fault.lose_sequence) cache_->Lose(id);
      callbacks.on_done(fault.status);
      return std::make_shared<NoopHandle>();
    }
    if (absl::Status s = cache_->Append(id, position, last); !s.ok()) {
      callbacks.on_done(s);
      return std::make_shared<NoopHandle>();
    }
    ++position;
    absl::StatusOr<FakeCache::Sequence> now = cache_->Get(id);
    const int32_t token = FakeNextToken(now->tokens);
    inference::v1::DecodeResponse message;
    message.set_token_id(token);
    message.set_step_index(request.step_index() + i);
    message.set_text(absl::StrCat("<", token, ">"));
    const bool stop = std::find(stops.begin(), stops.end(), token) != stops.end();
    if (stop || i + 1 == request.limits().max_new_tokens()) {
      message.set_finish_reason(stop ? inference::v1::FINISH_REASON_STOP
                                     : inference::v1::FINISH_REASON_LENGTH);
      message.mutable_report()->set_decode_compute_us(5);
      message.mutable_report()->set_kv_bytes_read(50);
    }
    callbacks.on_message(message);
    last = token;
    if (message.finish_reason() != inference::v1::FINISH_REASON_UNSPECIFIED) {
      if (!request.keep_sequence()) cache_->Lose(id);
      break;
    }
  }
  callbacks.on_done(absl::OkStatus());
  return std::make_shared<NoopHandle>();
}

}  // namespace pdserve::router::testing
