// In-memory fakes of the router's downstream services for unit tests: a fake cache manager
// holding sequences, prefill and decode members that "generate" with a deterministic function
// of the sequence's tokens, and failure switches (die mid-stream, lose the sequence).
#ifndef PDSERVE_SERVICES_ROUTER_FAKE_BACKENDS_H_
#define PDSERVE_SERVICES_ROUTER_FAKE_BACKENDS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "services/router/backends.h"

namespace pdserve::router::testing {

// The next token after `sequence` (prompt + generated so far): a hash into [3, 259), so never
// the synthetic models' EOS (2). Same sequence, same token: that is what failover relies on.
int32_t FakeNextToken(absl::Span<const int32_t> sequence);
// The first `n` tokens generated from `prompt` with FakeNextToken.
std::vector<int32_t> FakeGenerate(absl::Span<const int32_t> prompt, int n);

// Thread-safe. The cache manager: sequence id -> tokens and committed length.
class FakeCache : public CacheBackend {
 public:
  struct Sequence {
    std::vector<int32_t> tokens;  // every known token
    uint64_t length = 0;          // tokens whose K/V is committed
  };

  std::string Create(absl::Span<const int32_t> prompt) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends `token` (its K/V) if the length is `position`; FAILED_PRECONDITION / NOT_FOUND.
  absl::Status Append(const std::string& id, uint64_t position, int32_t token)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Sequence> Get(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_);
  void Lose(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);  // as if the manager restarted
  size_t live() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> released() const ABSL_LOCKS_EXCLUDED(mu_);
  // While set, GetSequence answers UNAVAILABLE this many more times.
  void FailGets(int times) ABSL_LOCKS_EXCLUDED(mu_);

  void ReleaseSequence(const std::string& sequence_id, absl::Time deadline,
                       std::function<void(absl::Status)> done) override;
  void GetSequence(
      const std::string& sequence_id, absl::Time deadline,
      std::function<void(absl::StatusOr<kvcache::v1::GetSequenceResponse>)> done) override;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Sequence> sequences_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> released_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  int failing_gets_ ABSL_GUARDED_BY(mu_) = 0;
};

// Thread-safe. Answers inline.
class FakePrefill : public PrefillBackend {
 public:
  explicit FakePrefill(FakeCache* cache) : cache_(cache) {}
  // The next `n` calls fail with `status`.
  void FailNext(int n, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<inference::v1::PrefillRequest> requests() const ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<CallHandle> Prefill(const inference::v1::PrefillRequest& request,
                                      absl::Time deadline, PrefillDone done) override;

 private:
  FakeCache* const cache_;
  mutable absl::Mutex mu_;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::vector<inference::v1::PrefillRequest> requests_ ABSL_GUARDED_BY(mu_);
};

// Thread-safe. Streams inline, except in hang mode, where it sends the tokens it may and
// then waits for Cancel.
class FakeDecode : public DecodeBackend {
 public:
  struct Fault {
    int after_messages = -1;         // >= 0: the stream breaks after this many messages
    absl::Status status = absl::UnavailableError("decode member died");
    bool append_next = false;        // append the last sent token's K/V before breaking
    bool lose_sequence = false;      // the manager loses the sequence as the stream breaks
    bool hang = false;               // instead of breaking, wait for Cancel
    bool repeat = false;             // every call breaks, not only the next one
  };

  explicit FakeDecode(FakeCache* cache) : cache_(cache) {}
  void SetFault(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<inference::v1::DecodeRequest> requests() const ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<CallHandle> Decode(const inference::v1::DecodeRequest& request,
                                     absl::Time deadline, DecodeCallbacks callbacks) override;

 private:
  FakeCache* const cache_;
  mutable absl::Mutex mu_;
  Fault fault_ ABSL_GUARDED_BY(mu_);
  std::vector<inference::v1::DecodeRequest> requests_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pdserve::router::testing

#endif  // PDSERVE_SERVICES_ROUTER_FAKE_BACKENDS_H_
