// KvCacheManager: the KV cache core (sequences, paged blocks, prefix sharing, eviction, leases),
// with no gRPC types; the gRPC service is a thin adapter over it.
#ifndef PDSERVE_CACHE_MANAGER_KV_CACHE_MANAGER_H_
#define PDSERVE_CACHE_MANAGER_KV_CACHE_MANAGER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cache_manager/block_pool.h"
#include "cache_manager/cache_stats.h"
#include "cache_manager/clock.h"
#include "cache_manager/kv_layout.h"
#include "cache_manager/mutex_lock.h"
#include "cache_manager/pending_write.h"
#include "cache_manager/prefix_index.h"
#include "cache_manager/read_snapshot.h"
#include "cache_manager/sequence.h"
#include "cache_manager/write_session.h"

namespace pdserve::cache_manager {

struct KvCacheManagerOptions {
  uint64_t capacity_bytes = uint64_t{1} << 30;  // K/V block bytes, all namespaces together
  uint32_t block_size = 16;                     // tokens per block, 1..1024
  absl::Duration default_lease_ttl = absl::Seconds(60);  // for a requested ttl of zero
  absl::Duration max_lease_ttl = absl::Hours(24);
  uint64_t max_sequence_tokens = uint64_t{1} << 20;  // known tokens per sequence
  uint64_t max_sequences = uint64_t{1} << 16;
  uint32_t max_append_items = 1024;
  uint32_t max_namespace_length = 256;
  Clock* clock = nullptr;  // lease time source; not owned; RealClock() when null
};

struct CreateSequenceResult {
  std::string sequence_id;     // 32 hex digits, random (unguessable), unique
  uint64_t cached_tokens = 0;  // committed length: prompt tokens attached from the cache
  absl::Duration lease_ttl;
};

struct SequenceInfo {
  std::string sequence_id;
  std::string model_namespace;
  KvLayout layout;
  uint64_t num_tokens = 0;  // committed length
  uint64_t prompt_tokens = 0;
  std::vector<int32_t> token_ids;  // every known token, prompt first
  absl::Duration lease_ttl;
};

// One sequence's part of an AppendBatch(). Spans are not owned.
struct AppendItem {
  std::string sequence_id;
  uint64_t expected_offset = 0;          // must equal the committed length
  absl::Span<const int32_t> token_ids;   // the new tokens, >= 1
  absl::Span<const std::byte> data;      // token_ids.size() x token bytes, all layers
};

struct AppendResult {
  absl::Status status;
  uint64_t num_tokens = 0;  // committed length after the item (unchanged on failure)
};

// Stores the K/V of live sequences and cached prefixes in a fixed-capacity pool of blocks of
// block_size tokens; see cache_manager/README.md for the model.
//
// Thread-safe. One mutex (mu_) guards all metadata: namespaces, sequences, the pool's accounting
// and LRU, the prefix index, counters. It is never held while payload bytes are copied or
// checksummed: writers copy into blocks reserved for them, readers copy from blocks pinned by a
// ReadSnapshot. Writers of one sequence are serialised by a per-sequence writer guard (a flag
// under mu_, not a second mutex), so there is no lock order to keep: mu_ is the only lock, and
// FakeClock's mutex may be taken inside it.
//
// Errors name the field and values: INVALID_ARGUMENT malformed input, NOT_FOUND unknown or
// released sequence, FAILED_PRECONDITION offset mismatch / writer active / prompt not committed,
// OUT_OF_RANGE read past the end, RESOURCE_EXHAUSTED pool or sequence limit. A failed call
// changes nothing that is stored.
class KvCacheManager {
 public:
  static absl::StatusOr<std::unique_ptr<KvCacheManager>> Create(
      const KvCacheManagerOptions& options);
  // REQUIRES: no WriteSession or ReadSnapshot of this manager is alive.
  ~KvCacheManager();
  KvCacheManager(const KvCacheManager&) = delete;
  KvCacheManager& operator=(const KvCacheManager&) = delete;

  // Creates a sequence for `prompt` (non-empty, ids >= 0). The first create of a namespace
  // registers its layout; a different layout later is INVALID_ARGUMENT. Attaches the longest
  // cached prefix of whole blocks, but always leaves at least the last prompt token uncached so
  // the writer has logits to compute: cached_tokens <= (prompt size - 1) rounded down to a
  // block. `lease_ttl` zero means the default. Prefix hit statistics are counted here.
  absl::StatusOr<CreateSequenceResult> CreateSequence(absl::string_view model_namespace,
                                                      const KvLayout& layout,
                                                      absl::Span<const int32_t> prompt,
                                                      absl::Duration lease_ttl)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Starts writing K/V of known tokens [expected_offset, expected_offset + num_tokens); all the
  // blocks the range needs are reserved now (RESOURCE_EXHAUSTED if they cannot be). NOT_FOUND
  // unknown id; FAILED_PRECONDITION if expected_offset != committed length (the message names
  // it) or another writer is active; INVALID_ARGUMENT if num_tokens is 0 or the range passes
  // the known tokens.
  absl::StatusOr<std::unique_ptr<WriteSession>> BeginWrite(absl::string_view sequence_id,
                                                           uint64_t expected_offset,
                                                           uint64_t num_tokens)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Appends the K/V of new tokens to many sequences, each item applied independently and
  // all-or-nothing. The call fails INVALID_ARGUMENT only for an empty or oversized batch or
  // a duplicate sequence id; otherwise one result per item, in order. Per item: NOT_FOUND;
  // FAILED_PRECONDITION if expected_offset != committed length, the prompt is not fully
  // committed yet, or a writer is active; INVALID_ARGUMENT for empty/negative token ids or a
  // data size other than tokens x token bytes; RESOURCE_EXHAUSTED when no block is free.
  absl::StatusOr<std::vector<AppendResult>> AppendBatch(absl::Span<const AppendItem> items)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Pins the committed blocks overlapping [from_token, length), skipping full blocks whose key
  // is in `held_keys`. from_token == length gives an empty snapshot; from_token > length is
  // OUT_OF_RANGE naming the length. NOT_FOUND unknown id. Renews the lease.
  absl::StatusOr<ReadSnapshot> Read(absl::string_view sequence_id, uint64_t from_token,
                                    const absl::flat_hash_set<BlockKey>& held_keys)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Drops the sequence's references; its full blocks stay cached. Returns its committed length.
  // NOT_FOUND if unknown or already released. A write in progress then fails at commit.
  absl::StatusOr<uint64_t> Release(absl::string_view sequence_id) ABSL_LOCKS_EXCLUDED(mu_);

  // Describes a live sequence and renews its lease. NOT_FOUND if unknown.
  absl::StatusOr<SequenceInfo> GetSequence(absl::string_view sequence_id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // How many leading tokens of `token_ids` are cached as whole blocks of `model_namespace`
  // (0 for an unknown namespace). No side effects: no LRU touch, no statistics.
  absl::StatusOr<uint64_t> Lookup(absl::string_view model_namespace,
                                  absl::Span<const int32_t> token_ids) const
      ABSL_LOCKS_EXCLUDED(mu_);

  CacheStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Releases every sequence whose lease expired and has no writer active; returns how many.
  // The server calls it periodically.
  int ReapExpired() ABSL_LOCKS_EXCLUDED(mu_);

  uint32_t block_size() const { return options_.block_size; }
  const KvCacheManagerOptions& options() const { return options_; }

 private:
  friend class WriteSession;
  friend class ReadSnapshot;
  using Garbage = std::vector<internal::BlockBuffer>;

  explicit KvCacheManager(const KvCacheManagerOptions& options);

  absl::StatusOr<internal::Sequence*> FindSequenceLocked(absl::string_view sequence_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RenewLeaseLocked(internal::Sequence* seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks the offset and writer guard, reserves the blocks of [offset, offset + num_tokens)
  // and takes the writer guard. `appended` is empty for a prompt write.
  absl::StatusOr<internal::PendingWrite> StartWriteLocked(internal::Sequence* seq,
                                                          uint64_t expected_offset,
                                                          uint64_t num_tokens,
                                                          absl::Span<const int32_t> appended,
                                                          Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes a filled, checksummed write; always consumes it. NOT_FOUND if released meanwhile.
  absl::StatusOr<uint64_t> FinishWriteLocked(internal::PendingWrite& write, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Discards a write: frees its blocks, unpins the tail, drops the writer guard.
  void DropWriteLocked(internal::PendingWrite& write, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> FinishWrite(internal::PendingWrite& write) ABSL_LOCKS_EXCLUDED(mu_);
  void DropWrite(internal::PendingWrite& write) ABSL_LOCKS_EXCLUDED(mu_);
  // Names a newly full block and shares an identical indexed one if there is one.
  void SealLocked(internal::Sequence* seq, size_t block_index, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(internal::Sequence* seq, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unpin(absl::Span<internal::Block* const> blocks) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<AppendResult> StartAppendLocked(const AppendItem& item,
                                                 internal::PendingWrite* write, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const KvCacheManagerOptions options_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  // Protected by mu_.
  internal::BlockPool pool_ ABSL_GUARDED_BY(mu_);
  internal::PrefixIndex index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<internal::Namespace>> namespaces_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<internal::Sequence>> sequences_
      ABSL_GUARDED_BY(mu_);
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
  uint64_t prefix_lookup_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t prefix_hit_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_in_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_out_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t leases_expired_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_KV_CACHE_MANAGER_H_
