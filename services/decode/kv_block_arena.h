// Storage for the decode server's local copy of K/V blocks: equal-size slots carved from large
// chunks on transparent huge pages. Attention reads one layer of every block per pass: one
// contiguous region per slot (32 KiB of a 384 KiB slot on synthetic:bench), in runs of 4 KiB;
// on 4 KiB pages that is a TLB miss per run, on 2 MiB pages one per five blocks.
#ifndef PDSERVE_SERVICES_DECODE_KV_BLOCK_ARENA_H_
#define PDSERVE_SERVICES_DECODE_KV_BLOCK_ARENA_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "decoder/aligned_buffer.h"

namespace pdserve::decode {

// Thread-compatible: one thread allocates and drops slots (the decode scheduler's loop). Chunks
// are kept for reuse until the arena is destroyed, so resident memory follows the peak number of
// slots in use. Every slot must be released before the arena is destroyed.
class KvBlockArena {
 public:
  // Slots of `slot_floats` floats; chunks of at least `chunk_bytes` (whole slots).
  explicit KvBlockArena(size_t slot_floats, size_t chunk_bytes = size_t{8} << 20);
  KvBlockArena(const KvBlockArena&) = delete;
  KvBlockArena& operator=(const KvBlockArena&) = delete;

  // A slot (contents unspecified); back in the arena when the last reference is dropped.
  std::shared_ptr<float> Allocate();

  size_t slot_floats() const { return slot_floats_; }
  size_t slots_in_use() const { return slots_total_ - free_.size(); }
  size_t slots_total() const { return slots_total_; }

 private:
  const size_t slot_floats_;
  const size_t slots_per_chunk_;
  std::vector<decoder::internal::AlignedBuffer> chunks_;
  std::vector<float*> free_;
  size_t slots_total_ = 0;
};

}  // namespace pdserve::decode

#endif  // PDSERVE_SERVICES_DECODE_KV_BLOCK_ARENA_H_
