// One Generate request in flight: prefill on a pool member, decode on another, tokens
// forwarded as they arrive, and recovery when a decode member or the cache manager fails.
#ifndef PDSERVE_SERVICES_ROUTER_GENERATE_CALL_H_
#define PDSERVE_SERVICES_ROUTER_GENERATE_CALL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/router/backends.h"
#include "services/router/call_env.h"
#include "services/router/generation_state.h"

namespace pdserve::router {

// Where a call's output goes (the client's stream). Implementations never block.
class GenerateSink {
 public:
  virtual ~GenerateSink() = default;
  // Queues one message for the client.
  virtual void Send(inference::v1::GenerateResponse message) = 0;
  // Ends the stream. Called exactly once, after the last Send; the call never touches the sink
  // afterwards.
  virtual void Finish(absl::Status status) = 0;
};

// Thread-safe: events from downstream callbacks, the timer and the client's cancellation may
// arrive on any thread. Always held by shared_ptr (callbacks keep it alive until they ran).
//
// The call is a chain of downstream calls, each started from the previous one's completion:
//   Prefill -> (first token ends it: ReleaseSequence) | Decode stream
//   Decode fails (UNAVAILABLE, NOT_FOUND, ...) -> GetSequence on the manager ->
//     length as expected: Decode on another member | lost or off: Prefill(prompt + generated,
//     resume_generated = g) -> Decode ...
// Every downstream deadline is min(client deadline, now + per-call timeout). Failures the
// client cannot fix are retried with back-off within RouterOptions' budgets.
class GenerateCall : public std::enable_shared_from_this<GenerateCall> {
 public:
  // `env` and `sink` must outlive the call's use of them (the sink until Finish).
  static std::shared_ptr<GenerateCall> Create(const CallEnv* env,
                                              const inference::v1::GenerateRequest& request,
                                              absl::Time deadline, GenerateSink* sink);
  ~GenerateCall();

  // Validates and starts. Call once.
  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  // The client went away: downstream calls are cancelled, the stream ends CANCELLED.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  GenerateCall(const CallEnv* env, absl::StatusOr<inference::v1::GenerateRequest> prepared,
               absl::Time deadline, GenerateSink* sink);

  // Each downstream call gets an id; its completion is ignored unless it is the current one.
  uint64_t BeginDownstream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Attach(uint64_t id, std::shared_ptr<CallHandle> handle) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Time DeadlineIn(absl::Duration timeout) const;

  // A downstream call about to start: the pool member and the call's id.
  struct Launch {
    size_t instance;
    uint64_t id;
  };
  enum class Phase { kPrefill, kDecode };
  // Acquires a member of the phase's pool (prefill: one not yet tried in this prefill phase;
  // decode: one that has not failed this call) and begins a downstream call, running
  // `on_picked(instance)` under the lock (to build the request). Returns nullopt when there is
  // nothing to start: the call has finished, or it is now completed with the error (cancelled
  // by the client, or no member available).
  std::optional<Launch> BeginLaunch(Phase phase,
                                    absl::FunctionRef<void(size_t instance)> on_picked)
      ABSL_LOCKS_EXCLUDED(mu_);
  void StartPrefill() ABSL_LOCKS_EXCLUDED(mu_);
  void OnPrefillDone(uint64_t id, size_t instance,
                     absl::StatusOr<inference::v1::PrefillResponse> response)
      ABSL_LOCKS_EXCLUDED(mu_);
  void StartDecode() ABSL_LOCKS_EXCLUDED(mu_);
  void OnDecodeMessage(uint64_t id, const inference::v1::DecodeResponse& message)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnDecodeDone(uint64_t id, size_t instance, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  void Recover() ABSL_LOCKS_EXCLUDED(mu_);
  void OnSequenceInfo(uint64_t id,
                      absl::StatusOr<kvcache::v1::GetSequenceResponse> sequence)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Spends one unit of the recovery budget and runs `step` after the back-off; or returns the
  // error the stream should end with when the budget or the deadline is exhausted.
  absl::Status RetryLater(const absl::Status& cause, int* attempts, int max_attempts,
                          void (GenerateCall::*step)()) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `last` (if any) and ends the stream with `status`. With `release_sequence`, the
  // current sequence (if any) is released in the manager: the router holds it (first token
  // finished the request, or the stream ends with an error and no decode call owns it).
  void Complete(const inference::v1::GenerateResponse* last, absl::Status status,
                bool release_sequence) ABSL_LOCKS_EXCLUDED(mu_);
  // Metrics of one token sent at `now`.
  void CountToken(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseSequenceAsync(const std::string& sequence_id);

  // Constant after construction.
  const CallEnv* const env_;
  const absl::Status invalid_;  // why the request was rejected, if it was
  const absl::Time deadline_;
  GenerateSink* const sink_;

  absl::Mutex mu_;
  GenerationState state_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool active_ ABSL_GUARDED_BY(mu_) = false;    // counted in active_streams
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // sink_->Finish has been (or is being) called
  uint64_t call_id_ ABSL_GUARDED_BY(mu_) = 0;   // id of the current downstream call
  uint64_t done_id_ ABSL_GUARDED_BY(mu_) = 0;   // newest id whose completion arrived
  std::shared_ptr<CallHandle> current_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> prefill_tried_ ABSL_GUARDED_BY(mu_);  // members of this prefill phase
  std::vector<size_t> decode_failed_ ABSL_GUARDED_BY(mu_);  // decode members that failed us
  int prefill_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  int recovery_retries_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_token_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_GENERATE_CALL_H_
