// The Generate state machine: prefill, decode, forward, and recover from failed members.
#include "services/router/generate_call.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"
#include "services/common/status_macros.h"
#include "services/router/request_validation.h"
#include "services/router/retry_policy.h"

namespace pdserve::router {
namespace {

using inference::v1::DecodeRequest;
using inference::v1::DecodeResponse;
using inference::v1::GenerateResponse;
using inference::v1::PrefillRequest;
using inference::v1::PrefillResponse;

}  // namespace

std::shared_ptr<GenerateCall> GenerateCall::Create(const CallEnv* env,
                                                   const inference::v1::GenerateRequest& request,
                                                   absl::Time deadline, GenerateSink* sink) {
  return std::shared_ptr<GenerateCall>(new GenerateCall(
      env, PrepareGenerateRequest(request, *env->model, env->options->max_new_tokens_limit),
      deadline, sink));
}

GenerateCall::GenerateCall(const CallEnv* env,
                           absl::StatusOr<inference::v1::GenerateRequest> prepared,
                           absl::Time deadline, GenerateSink* sink)
    : env_(env),
      invalid_(prepared.status()),
      deadline_(deadline),
      sink_(sink),
      state_(prepared.ok() ? *prepared : inference::v1::GenerateRequest(), env->model,
             absl::Now()) {
  env_->tracker->Add();
}

GenerateCall::~GenerateCall() { env_->tracker->Remove(); }

void GenerateCall::Start() {
  absl::Status valid;
  {
    absl::MutexLock lock(&mu_);
    PDSERVE_CHECK(!started_);
    started_ = true;
    valid = invalid_;
    active_ = valid.ok();
  }
  env_->metrics->requests->Add();
  if (!valid.ok()) {
    Complete(nullptr, valid, /*release_sequence=*/false);
    return;
  }
  env_->metrics->active_streams->Add(1);
  StartPrefill();
}

void GenerateCall::Cancel() {
  std::shared_ptr<CallHandle> current;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_ || finished_) return;
    cancelled_ = true;
    current = current_;
  }
  if (current != nullptr) current->Cancel();
}

uint64_t GenerateCall::BeginDownstream() {
  current_ = nullptr;
  return ++call_id_;
}

void GenerateCall::Attach(uint64_t id, std::shared_ptr<CallHandle> handle) {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    if (id != call_id_ || done_id_ == id) return;  // already completed (maybe inline)
    current_ = handle;
    cancel = cancelled_;
  }
  if (cancel) handle->Cancel();
}

absl::Time GenerateCall::DeadlineIn(absl::Duration timeout) const {
  return std::min(deadline_, absl::Now() + timeout);
}

std::optional<GenerateCall::Launch> GenerateCall::BeginLaunch(
    Phase phase, absl::FunctionRef<void(size_t instance)> on_picked) {
  const bool prefill = phase == Phase::kPrefill;
  InstancePool& pool = prefill ? *env_->prefill_pool : *env_->decode_pool;
  Launch launch{};
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return std::nullopt;
    if (cancelled_) {
      error = absl::CancelledError("the client cancelled the call");
    } else if (absl::StatusOr<size_t> picked =
                   pool.Acquire(prefill ? prefill_tried_ : decode_failed_);
               !picked.ok()) {
      error = common::Annotate(picked.status(), prefill ? "prefill" : "decode");
    } else {
      launch.instance = *picked;
      on_picked(launch.instance);
      launch.id = BeginDownstream();
    }
  }
  if (!error.ok()) {
    Complete(nullptr, error, /*release_sequence=*/true);
    return std::nullopt;
  }
  return launch;
}

void GenerateCall::StartPrefill() {
  PrefillRequest request;
  const std::optional<Launch> launch =
      BeginLaunch(Phase::kPrefill, [&](size_t instance) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        request = state_.NextPrefillRequest();
        prefill_tried_.push_back(instance);
      });
  if (!launch.has_value()) return;
  std::shared_ptr<GenerateCall> self = shared_from_this();
  Attach(launch->id,
         env_->prefill[launch->instance]->Prefill(
             request, DeadlineIn(env_->options->prefill_timeout),
             [self, id = launch->id, instance = launch->instance](
                 absl::StatusOr<PrefillResponse> response) {
               self->OnPrefillDone(id, instance, std::move(response));
             }));
}

void GenerateCall::OnPrefillDone(uint64_t id, size_t instance,
                                 absl::StatusOr<PrefillResponse> response) {
  env_->prefill_pool->Release(instance);
  enum class Next { kNothing, kFail, kDecode, kFinishHere } next = Next::kNothing;
  absl::Status error;
  GenerateResponse message;
  std::string orphan;  // a sequence nobody will use
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (id != call_id_) return;
    done_id_ = id;
    current_ = nullptr;
    if (finished_ || cancelled_) {
      if (response.ok()) orphan = response->sequence_id();
      if (!finished_) {
        next = Next::kFail;
        error = absl::CancelledError("the client cancelled the call");
      }
    } else if (!response.ok()) {
      const bool initial = state_.generated().empty();
      const absl::Status cause = common::Annotate(
          response.status(), absl::StrCat("prefill at ", env_->prefill_pool->address(instance)));
      const bool permanent = initial ? IsPermanentBeforeFirstToken(cause.code())
                                     : IsPermanent(cause.code());
      if (permanent || now >= deadline_) {
        error = cause;
      } else if (initial) {
        error = RetryLater(cause, &prefill_attempts_, env_->options->max_prefill_attempts - 1,
                           &GenerateCall::StartPrefill);
      } else {
        error = RetryLater(cause, &recovery_retries_, env_->options->max_recovery_retries,
                           &GenerateCall::StartPrefill);
      }
      next = error.ok() ? Next::kNothing : Next::kFail;
    } else {
      if (!state_.generated().empty()) env_->metrics->reprefills->Add();
      prefill_tried_.clear();
      message = state_.OnPrefill(*response, now);
      next = state_.finished() ? Next::kFinishHere : Next::kDecode;
    }
  }
  if (!orphan.empty()) ReleaseSequenceAsync(orphan);
  switch (next) {
    case Next::kNothing:
      return;
    case Next::kFail:
      Complete(nullptr, error, /*release_sequence=*/true);
      return;
    case Next::kFinishHere:
      CountToken(now);
      Complete(&message, absl::OkStatus(), /*release_sequence=*/true);
      return;
    case Next::kDecode:
      CountToken(now);
      sink_->Send(std::move(message));
      StartDecode();
      return;
  }
}

void GenerateCall::StartDecode() {
  DecodeRequest request;
  const std::optional<Launch> launch =
      BeginLaunch(Phase::kDecode, [&](size_t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        request = state_.NextDecodeRequest();
      });
  if (!launch.has_value()) return;
  std::shared_ptr<GenerateCall> self = shared_from_this();
  DecodeCallbacks callbacks;
  callbacks.on_message = [self, id = launch->id](const DecodeResponse& message) {
    self->OnDecodeMessage(id, message);
  };
  callbacks.on_done = [self, id = launch->id, instance = launch->instance](absl::Status status) {
    self->OnDecodeDone(id, instance, std::move(status));
  };
  Attach(launch->id, env_->decode[launch->instance]->Decode(
                         request, DeadlineIn(env_->options->decode_timeout), std::move(callbacks)));
}

void GenerateCall::OnDecodeMessage(uint64_t id, const DecodeResponse& message) {
  GenerateResponse out;
  bool final = false;
  std::shared_ptr<CallHandle> stop;  // the stream to end when the router decided to finish
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || cancelled_ || id != call_id_ || done_id_ == id) return;
    out = state_.OnDecodeMessage(message, now);
    final = state_.finished();
    if (final && message.finish_reason() == inference::v1::FINISH_REASON_UNSPECIFIED) {
      stop = current_;
    }
  }
  CountToken(now);
  if (!final) {
    sink_->Send(std::move(out));
    return;
  }
  // The decode call releases the sequence when its stream ends (also when cancelled here).
  Complete(&out, absl::OkStatus(), /*release_sequence=*/false);
  if (stop != nullptr) stop->Cancel();
}

void GenerateCall::OnDecodeDone(uint64_t id, size_t instance, absl::Status status) {
  env_->decode_pool->Release(instance);
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    if (id != call_id_) return;
    done_id_ = id;
    current_ = nullptr;
    if (finished_) return;
    if (cancelled_) {
      error = absl::CancelledError("the client cancelled the call");
    } else {
      absl::Status cause =
          status.ok() ? absl::UnavailableError("the stream ended before a finish reason")
                      : std::move(status);
      cause = common::Annotate(
          cause, absl::StrCat("decode at ", env_->decode_pool->address(instance)));
      if (IsPermanent(cause.code()) || absl::Now() >= deadline_) {
        error = cause;
      } else {
        decode_failed_.push_back(instance);
        state_.CountDecodeRetry();
        env_->metrics->decode_failovers->Add();
        error = RetryLater(cause, &recovery_retries_, env_->options->max_recovery_retries,
                           &GenerateCall::Recover);
      }
    }
  }
  if (!error.ok()) Complete(nullptr, error, /*release_sequence=*/true);
}

void GenerateCall::Recover() {
  std::string sequence_id;
  uint64_t id = 0;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (cancelled_) {
      error = absl::CancelledError("the client cancelled the call");
    } else {
      sequence_id = state_.sequence_id();
      id = BeginDownstream();
    }
  }
  if (!error.ok()) {
    Complete(nullptr, error, /*release_sequence=*/true);
    return;
  }
  std::shared_ptr<GenerateCall> self = shared_from_this();
  env_->cache->GetSequence(
      sequence_id, DeadlineIn(env_->options->cache_timeout),
      [self, id](absl::StatusOr<kvcache::v1::GetSequenceResponse> sequence) {
        self->OnSequenceInfo(id, std::move(sequence));
      });
}

void GenerateCall::OnSequenceInfo(uint64_t id,
                                  absl::StatusOr<kvcache::v1::GetSequenceResponse> sequence) {
  enum class Next { kNothing, kFail, kDecode, kPrefill } next = Next::kNothing;
  absl::Status error;
  std::string orphan;
  {
    absl::MutexLock lock(&mu_);
    if (id != call_id_ || finished_) return;
    done_id_ = id;
    if (cancelled_) {
      next = Next::kFail;
      error = absl::CancelledError("the client cancelled the call");
    } else if (sequence.ok()) {
      if (sequence->num_tokens() == state_.ExpectedSequenceLength()) {
        next = Next::kDecode;  // intact: any other decode member continues it
      } else {
        // The failed member appended K/V past the last token the client got (or short of it):
        // a fresh prefill of prompt + generated is the one safe continuation.
        orphan = state_.sequence_id();
        state_.DropSequence();
        next = Next::kPrefill;
      }
    } else if (sequence.status().code() == absl::StatusCode::kNotFound) {
      state_.DropSequence();  // the manager lost it (restart, lease expiry)
      next = Next::kPrefill;
    } else {
      const absl::Status cause = common::Annotate(sequence.status(), "cache manager");
      error = IsPermanent(cause.code())
                  ? cause
                  : RetryLater(cause, &recovery_retries_, env_->options->max_recovery_retries,
                               &GenerateCall::Recover);
      next = error.ok() ? Next::kNothing : Next::kFail;
    }
  }
  if (!orphan.empty()) ReleaseSequenceAsync(orphan);
  switch (next) {
    case Next::kNothing:
      return;
    case Next::kFail:
      Complete(nullptr, error, /*release_sequence=*/true);
      return;
    case Next::kDecode:
      StartDecode();
      return;
    case Next::kPrefill:
      StartPrefill();
      return;
  }
}

absl::Status GenerateCall::RetryLater(const absl::Status& cause, int* attempts, int max_attempts,
                                      void (GenerateCall::*step)()) {
  if (*attempts >= max_attempts) return cause;
  ++*attempts;
  const absl::Duration delay = RetryBackoff(*env_->options, *attempts);
  if (absl::Now() + delay >= deadline_) {
    return absl::DeadlineExceededError(
        absl::StrCat("the deadline passed while recovering from: ", cause.message()));
  }
  std::shared_ptr<GenerateCall> self = shared_from_this();
  env_->scheduler->RunAfter(delay, [self, step] { (self.get()->*step)(); });
  return absl::OkStatus();
}

void GenerateCall::CountToken(absl::Time now) {
  absl::Time previous;
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    previous = last_token_time_;
    last_token_time_ = now;
    first = state_.generated().size() == 1;
    if (first) env_->metrics->ttft_seconds->Observe(absl::ToDoubleSeconds(state_.ttft()));
  }
  env_->metrics->generated_tokens->Add();
  if (!first && previous != absl::InfinitePast()) {
    env_->metrics->tpot_seconds->Observe(absl::ToDoubleSeconds(now - previous));
  }
}

void GenerateCall::Complete(const GenerateResponse* last, absl::Status status,
                            bool release_sequence) {
  std::string release;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    current_ = nullptr;
    if (release_sequence && state_.has_sequence()) {
      release = state_.sequence_id();
      state_.DropSequence();
    }
    RouterMetrics* metrics = env_->metrics;
    if (active_) metrics->active_streams->Add(-1);
    active_ = false;
    if (status.ok()) {
      metrics->prompt_tokens->Add(state_.prompt_tokens());
      metrics->reused_tokens->Add(state_.reused_tokens());
      metrics->kv_bytes_written->Add(static_cast<double>(state_.report().kv_bytes_written()));
      metrics->kv_bytes_read->Add(static_cast<double>(state_.report().kv_bytes_read()));
    } else {
      metrics->request_errors->Add();
    }
  }
  if (last != nullptr) sink_->Send(*last);
  sink_->Finish(std::move(status));
  if (!release.empty()) ReleaseSequenceAsync(release);
}

void GenerateCall::ReleaseSequenceAsync(const std::string& sequence_id) {
  std::shared_ptr<GenerateCall> self = shared_from_this();
  // Not capped by the client's deadline: the sequence should go even if the client has gone.
  env_->cache->ReleaseSequence(sequence_id, absl::Now() + env_->options->cache_timeout,
                               [self](absl::Status) {});
}

}  // namespace pdserve::router
