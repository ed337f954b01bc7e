// BlockPool: byte-capacity accounting, allocation and LRU eviction of K/V blocks.
#ifndef PDSERVE_CACHE_MANAGER_BLOCK_POOL_H_
#define PDSERVE_CACHE_MANAGER_BLOCK_POOL_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "cache_manager/block.h"

namespace pdserve::cache_manager::internal {

// Owns every Block and its buffer, and keeps the sum of block buffer sizes within a fixed byte
// capacity. Blocks of any namespace share the capacity; each block's buffer is exactly
// block_size * token_bytes of its namespace, allocated on its own so that large blocks cost the
// allocator almost nothing beyond their bytes (glibc serves them from mmap or big free chunks).
//
// Thread-compatible, not thread-safe: KvCacheManager calls it with its mutex held. Freed
// buffers are handed back in a `garbage` vector so the caller can free them after unlocking.
//
// LRU invariant: the list holds exactly the blocks in state kCached (indexed, full, refs == 0),
// oldest at lru_head_; cached_bytes_ is the sum of their sizes.
class BlockPool {
 public:
  BlockPool(uint64_t capacity_bytes, uint32_t block_size);
  ~BlockPool();  // Deletes every block; REQUIRES: no one uses them any more.
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // Creates `count` blocks of `ns`, each in state kInFlight with refs == 1, appended to `out`.
  // All or nothing. While free bytes are short it evicts cached blocks oldest first, calling
  // `on_evict(block)` before deleting each (the caller drops it from its index); an evicted
  // buffer of the right size is reused for a new block, others go to `garbage`.
  // RESOURCE_EXHAUSTED naming needed, capacity, used, pinned and evictable bytes if even
  // evicting everything evictable would not make room; nothing changes then.
  absl::Status Allocate(const Namespace& ns, uint64_t count,
                        absl::FunctionRef<void(Block*)> on_evict, std::vector<Block*>* out,
                        std::vector<BlockBuffer>* garbage);

  // Adds a reference. A kCached block leaves the LRU list and becomes kPinned.
  void Ref(Block* block);
  // Drops a reference. At zero, an indexed full block becomes kCached at the LRU's newest end;
  // any other block is deleted and its buffer moved to `garbage`.
  void Unref(Block* block, std::vector<BlockBuffer>* garbage);
  // Moves a referenced block between kInFlight, kPartial and kPinned.
  void SetState(Block* block, BlockState state);
  // Sets the block's committed token count (kept in valid_bytes()).
  void SetValidTokens(Block* block, uint32_t num_tokens);

  uint64_t capacity_bytes() const { return capacity_bytes_; }
  uint64_t used_bytes() const { return used_bytes_; }
  uint64_t free_bytes() const { return capacity_bytes_ - used_bytes_; }
  uint64_t cached_bytes() const { return cached_bytes_; }
  // Committed K/V bytes stored: sum of num_tokens * token_bytes over blocks.
  uint64_t valid_bytes() const { return valid_bytes_; }
  uint64_t evictions() const { return evictions_; }
  uint64_t num_blocks() const { return num_blocks_; }
  uint64_t count(BlockState state) const { return counts_[static_cast<int>(state)]; }
  // Estimated resident bytes of block metadata (records, token ids, allocator headers).
  uint64_t overhead_bytes() const;
  // The next block eviction would take, or nullptr.
  const Block* LruOldestForTest() const { return lru_head_; }

 private:
  void LruPushNewest(Block* block);
  void LruRemove(Block* block);
  void Delete(Block* block, std::vector<BlockBuffer>* garbage);

  const uint64_t capacity_bytes_;
  const uint32_t block_size_;
  uint64_t used_bytes_ = 0;
  uint64_t cached_bytes_ = 0;
  uint64_t valid_bytes_ = 0;
  uint64_t evictions_ = 0;
  uint64_t num_blocks_ = 0;
  uint64_t next_uid_ = 1;
  std::array<uint64_t, kNumBlockStates> counts_{};
  Block* lru_head_ = nullptr;  // oldest
  Block* lru_tail_ = nullptr;  // newest
  absl::flat_hash_set<Block*> all_;  // every live block, so the destructor can free them
};

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_BLOCK_POOL_H_
