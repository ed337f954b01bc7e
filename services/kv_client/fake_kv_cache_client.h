// FakeKvCacheClient: an in-memory KvCacheClient for unit tests of its users, with faults to
// inject: reads held until released or cancelled, reads that fail, reads that return less than
// the sequence holds, appends that fail.
#ifndef PDSERVE_SERVICES_KV_CLIENT_FAKE_KV_CACHE_CLIENT_H_
#define PDSERVE_SERVICES_KV_CLIENT_FAKE_KV_CACHE_CLIENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "services/kv_client/kv_cache_client.h"

namespace pdserve::kvclient {

// Thread-safe. Holds sequences whose K/V a test put there (AddSequence); Read, GetSequence,
// Append and Release behave like the manager's, CreateSequence and BeginWrite are UNIMPLEMENTED.
class FakeKvCacheClient final : public KvCacheClient {
 public:
  explicit FakeKvCacheClient(const decoder::KvLayout& layout) : layout_(layout) {}

  // A sequence of `tokens` whose first `committed` tokens have K/V `kv` (committed x
  // TokenFloats, token-major); prompt_tokens = tokens.size().
  void AddSequence(const std::string& id, std::vector<int32_t> tokens, std::vector<float> kv,
                   uint32_t block_size, uint64_t committed) ABSL_LOCKS_EXCLUDED(mu_);

  // Faults, per sequence id.
  // Reads of `id` wait (after GetSequence) until OpenReads(id) or their canceller fires.
  void HoldReads(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  void OpenReads(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  void FailReads(const std::string& id, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads of `id` leave out its last block (the length still says the whole sequence).
  void TruncateReads(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  void FailAppends(const std::string& id, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  // Observations.
  int reads_waiting() const ABSL_LOCKS_EXCLUDED(mu_);     // held reads now waiting
  // Waits until `n` held reads are waiting; false after `timeout`.
  bool WaitForReadsWaiting(int n, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  int reads_cancelled() const ABSL_LOCKS_EXCLUDED(mu_);   // reads ended by their canceller
  std::vector<std::string> released() const ABSL_LOCKS_EXCLUDED(mu_);
  // Tokens (prompt + appended) of a sequence still held; empty if unknown.
  std::vector<int32_t> tokens(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks Read has sent, in all.
  int blocks_sent() const ABSL_LOCKS_EXCLUDED(mu_);

  // KvCacheClient.
  absl::StatusOr<CreatedSequence> CreateSequence(const std::string& model_namespace,
                                                 const decoder::KvLayout& layout,
                                                 absl::Span<const int32_t> tokens,
                                                 absl::Duration lease_ttl) override;
  absl::StatusOr<std::unique_ptr<PromptWriter>> BeginWrite(const std::string& sequence_id,
                                                           const decoder::KvLayout& layout,
                                                           uint64_t first_token,
                                                           uint64_t num_tokens) override;
  absl::StatusOr<std::vector<absl::Status>> Append(
      absl::Span<const AppendRequestItem> items) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<ReadResult> Read(const std::string& sequence_id, uint64_t from_token,
                                  absl::Span<const BlockKey> held, const decoder::KvLayout& layout,
                                  CallCanceller* cancel) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Release(const std::string& sequence_id) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SequenceState> GetSequence(const std::string& sequence_id,
                                            CallCanceller* cancel) override
      ABSL_LOCKS_EXCLUDED(mu_);
  bool Healthy(absl::Duration) override { return true; }

 private:
  struct FakeSequence {
    std::vector<int32_t> tokens;
    uint64_t prompt_tokens = 0;
    uint64_t committed = 0;
    uint32_t block_size = 0;
    uint64_t key_salt = 0;
    std::vector<float> kv;  // committed x TokenFloats
  };

  const decoder::KvLayout layout_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, FakeSequence> sequences_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> held_reads_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Status> failed_reads_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> truncated_reads_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Status> failed_appends_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> released_ ABSL_GUARDED_BY(mu_);
  int reads_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int reads_cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  int blocks_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_salt_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace pdserve::kvclient

#endif  // PDSERVE_SERVICES_KV_CLIENT_FAKE_KV_CACHE_CLIENT_H_
