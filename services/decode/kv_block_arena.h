// Storage for the decode server's local copy of K/V blocks: equal-size slots carved from large
// chunks on transparent huge pages. Attention reads one layer of every block per pass: one
// contiguous region per slot (32 KiB of a 384 KiB slot on synthetic:bench), in runs of 4 KiB;
// on 4 KiB pages that is a TLB miss per run, on 2 MiB pages one per five blocks.
#ifndef PDSERVE_SERVICES_DECODE_KV_BLOCK_ARENA_H_
#define PDSERVE_SERVICES_DECODE_KV_BLOCK_ARENA_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "decoder/aligned_buffer.h"

namespace pdserve::decode {

// Thread-safe: the decode scheduler's admission workers allocate slots, its loop thread
// allocates and drops them. Chunks are kept for reuse until the arena is destroyed, so resident
// memory follows the peak number of slots in use. Every slot must be released before the arena
// is destroyed.
class KvBlockArena {
 public:
  // Slots of `slot_floats` floats; chunks of at least `chunk_bytes` (whole slots).
  explicit KvBlockArena(size_t slot_floats, size_t chunk_bytes = size_t{8} << 20);
  KvBlockArena(const KvBlockArena&) = delete;
  KvBlockArena& operator=(const KvBlockArena&) = delete;

  // A slot (contents unspecified); back in the arena when the last reference is dropped.
  std::shared_ptr<float> Allocate() ABSL_LOCKS_EXCLUDED(mu_);

  size_t slot_floats() const { return slot_floats_; }
  size_t slots_in_use() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t slots_total() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Free(float* slot) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const size_t slot_floats_;
  const size_t slots_per_chunk_;

  mutable absl::Mutex mu_;
  std::vector<decoder::internal::AlignedBuffer> chunks_ ABSL_GUARDED_BY(mu_);
  std::vector<float*> free_ ABSL_GUARDED_BY(mu_);
  size_t slots_total_ ABSL_GUARDED_BY(mu_) = 0;
};

// One arena per slot size. Thread-safe; an arena lives as long as the set.
class KvBlockArenas {
 public:
  KvBlockArena& For(size_t slot_floats) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<KvBlockArena>> arenas_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pdserve::decode

#endif  // PDSERVE_SERVICES_DECODE_KV_BLOCK_ARENA_H_
