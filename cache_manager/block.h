// Internal records of the cache core: a registered model namespace and one K/V block.
#ifndef PDSERVE_CACHE_MANAGER_BLOCK_H_
#define PDSERVE_CACHE_MANAGER_BLOCK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache_manager/block_key.h"
#include "cache_manager/kv_layout.h"

namespace pdserve::cache_manager::internal {

// A model namespace and its layout. Immutable after registration and never deleted while the
// manager lives, so it may be read without a lock.
struct Namespace {
  std::string name;
  KvLayout layout;
  uint64_t token_bytes = 0;  // layout.TokenBytes()
  uint64_t block_bytes = 0;  // block_size * token_bytes
};

// Lifecycle of a block; BlockPool keeps a count per state.
//   kInFlight: allocated for a write not yet committed; private to that writer.
//   kPartial:  committed, fewer than block_size valid tokens; private to one sequence.
//   kPinned:   full (block_size valid tokens), immutable, referenced by sequences or readers.
//   kCached:   full, indexed, unreferenced; on the LRU list, evictable.
// Full blocks that are not indexed (a hash collision) are freed at refs == 0, never cached.
enum class BlockState : uint8_t { kInFlight, kPartial, kPinned, kCached };
inline constexpr int kNumBlockStates = 4;

// The bytes of a block: block_bytes of token-major K/V.
using BlockBuffer = std::unique_ptr<std::byte[]>;

// One block of block_size tokens of one namespace.
//
// Thread-safety: `ns`, `uid`, `data` and `bytes` are constant after construction. Every other
// field is guarded by the owning KvCacheManager's mutex. The payload bytes are not guarded by
// it: bytes [0, num_tokens * token_bytes) are immutable once committed and may be read by any
// holder of a reference without the lock; bytes past num_tokens belong to the single writer
// of the owning sequence (the sequence's writer guard), and are only published by a commit.
struct Block {
  const Namespace* ns = nullptr;
  uint64_t uid = 0;  // unique for the manager's life, never reused; 0 means "root"
  uint64_t bytes = 0;
  BlockBuffer data;

  int32_t refs = 0;  // sequences, writers and read snapshots holding the block
  uint32_t num_tokens = 0;  // committed valid tokens
  uint64_t checksum = 0;    // XXH3-64 of the committed valid bytes
  BlockState state = BlockState::kInFlight;

  // Set when the block is sealed full.
  bool indexed = false;             // in the PrefixIndex under `key`
  BlockKey key;                     // hash-chain key
  uint64_t parent_uid = 0;          // uid of the preceding block of its chain (0 for the first)
  std::vector<int32_t> token_ids;   // the block's tokens, compared on every index hit

  // LRU list links, non-null only in state kCached (see BlockPool).
  Block* lru_prev = nullptr;
  Block* lru_next = nullptr;
};

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_BLOCK_H_
