// Internal record of one live sequence: its tokens, block table, committed length and lease.
#ifndef PDSERVE_CACHE_MANAGER_SEQUENCE_H_
#define PDSERVE_CACHE_MANAGER_SEQUENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cache_manager/block.h"

namespace pdserve::cache_manager::internal {

// Guarded by the owning KvCacheManager's mutex (every field).
//
// Invariants: blocks.size() == ceil(committed / block_size); blocks[i] holds tokens
// [i * block_size, (i + 1) * block_size) and all but the last are full (kPinned); the sequence
// holds one reference on each; committed <= token_ids.size(); token_ids past committed are
// prompt tokens whose K/V has not been written yet.
struct Sequence {
  std::string id;
  const Namespace* ns = nullptr;
  std::vector<int32_t> token_ids;  // prompt first, then appended tokens
  uint64_t prompt_tokens = 0;
  std::vector<Block*> blocks;
  uint64_t committed = 0;  // tokens whose K/V is visible to readers
  absl::Duration lease_ttl;
  absl::Time lease_expiry;
  // The writer guard: true while a WriteSession or an append owns the tail of the sequence.
  bool writer_active = false;
};

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_SEQUENCE_H_
