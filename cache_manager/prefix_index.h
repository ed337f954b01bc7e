// PrefixIndex: maps hash-chain keys of full blocks to the blocks, verifying content on each hit.
#ifndef PDSERVE_CACHE_MANAGER_PREFIX_INDEX_H_
#define PDSERVE_CACHE_MANAGER_PREFIX_INDEX_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "cache_manager/block.h"
#include "cache_manager/block_key.h"

namespace pdserve::cache_manager::internal {

// At most one block per key. A hit counts only if the block's namespace, parent block uid and
// token ids all equal the probe's, so a 128-bit collision (or a chain whose parent block was
// evicted and replaced) never serves wrong K/V. Parent identity is the parent's never-reused
// uid rather than its key, which makes a match exact by induction along the chain.
//
// Thread-compatible, not thread-safe: KvCacheManager calls it with its mutex held.
class PrefixIndex {
 public:
  // The indexed block under `key` whose content equals the probe, else nullptr.
  Block* Find(const BlockKey& key, const Namespace* ns, uint64_t parent_uid,
              absl::Span<const int32_t> token_ids) const;
  // The indexed block under `key` regardless of content, else nullptr.
  Block* FindKey(const BlockKey& key) const;

  // Longest run of indexed blocks matching the chain `keys` of `token_ids` from the root, in
  // order. `keys` must be ComputeKeyChain(token_ids, block_size, ns->name) (a prefix of it is
  // fine). No side effects.
  std::vector<Block*> MatchPrefix(const Namespace* ns, absl::Span<const int32_t> token_ids,
                                  uint32_t block_size, absl::Span<const BlockKey> keys) const;

  // Indexes `block` under block->key and sets block->indexed.
  // REQUIRES: block is sealed (key, parent_uid, token_ids set) and FindKey(block->key) == nullptr.
  void Insert(Block* block);
  // Removes `block` if it is the one indexed under its key, and clears block->indexed.
  void Erase(Block* block);

  size_t size() const { return map_.size(); }
  // Resident bytes of the table (slots and control bytes).
  uint64_t overhead_bytes() const;

 private:
  absl::flat_hash_map<BlockKey, Block*> map_;
};

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_PREFIX_INDEX_H_
