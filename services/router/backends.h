// Asynchronous interfaces to what the router calls: prefill and decode pool members, the cache
// manager and a timer. The request logic (generate_call.h) is written against these, gRPC
// implements them in grpc_backends.h, and tests substitute fakes.
#ifndef PDSERVE_SERVICES_ROUTER_BACKENDS_H_
#define PDSERVE_SERVICES_ROUTER_BACKENDS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "pdserve/kvcache/v1/kvcache.pb.h"

namespace pdserve::router {

// A started downstream call. Thread-safe.
class CallHandle {
 public:
  virtual ~CallHandle() = default;
  // Asks the call to stop early. Its completion callback still runs exactly once (usually with
  // CANCELLED). No-op after completion.
  virtual void Cancel() = 0;
};

using PrefillDone =
    std::function<void(absl::StatusOr<inference::v1::PrefillResponse> response)>;

struct DecodeCallbacks {
  // Every streamed message in order, one call at a time.
  std::function<void(const inference::v1::DecodeResponse& message)> on_message;
  // Exactly once, after the last on_message: how the stream ended.
  std::function<void(absl::Status status)> on_done;
};

// One prefill server. Thread-safe. Callbacks may run on any thread, including inline.
class PrefillBackend {
 public:
  virtual ~PrefillBackend() = default;
  // Calls Prefill; `done` runs exactly once. The call fails DEADLINE_EXCEEDED at `deadline`.
  virtual std::shared_ptr<CallHandle> Prefill(const inference::v1::PrefillRequest& request,
                                              absl::Time deadline, PrefillDone done) = 0;
};

// One decode server. Thread-safe. Callbacks may run on any thread, including inline.
class DecodeBackend {
 public:
  virtual ~DecodeBackend() = default;
  virtual std::shared_ptr<CallHandle> Decode(const inference::v1::DecodeRequest& request,
                                             absl::Time deadline, DecodeCallbacks callbacks) = 0;
};

// The cache manager calls the router makes. Thread-safe. `done` runs exactly once.
class CacheBackend {
 public:
  virtual ~CacheBackend() = default;
  virtual void ReleaseSequence(const std::string& sequence_id, absl::Time deadline,
                               std::function<void(absl::Status)> done) = 0;
  virtual void GetSequence(
      const std::string& sequence_id, absl::Time deadline,
      std::function<void(absl::StatusOr<kvcache::v1::GetSequenceResponse>)> done) = 0;
};

// Runs closures later. Thread-safe.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Runs `fn` once, after `delay`, on a thread of the scheduler's own (never inline).
  virtual void RunAfter(absl::Duration delay, std::function<void()> fn) = 0;
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_BACKENDS_H_
