// PrefixIndex: content-verified lookup of full blocks by hash-chain key.
#include "cache_manager/prefix_index.h"

#include <algorithm>
#include <utility>

namespace pdserve::cache_manager::internal {

Block* PrefixIndex::Find(const BlockKey& key, const Namespace* ns, uint64_t parent_uid,
                         absl::Span<const int32_t> token_ids) const {
  Block* block = FindKey(key);
  if (block == nullptr || block->ns != ns || block->parent_uid != parent_uid ||
      !std::equal(block->token_ids.begin(), block->token_ids.end(), token_ids.begin(),
                  token_ids.end())) {
    return nullptr;
  }
  return block;
}

Block* PrefixIndex::FindKey(const BlockKey& key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second;
}

std::vector<Block*> PrefixIndex::MatchPrefix(const Namespace* ns,
                                             absl::Span<const int32_t> token_ids,
                                             uint32_t block_size,
                                             absl::Span<const BlockKey> keys) const {
  std::vector<Block*> matched;
  uint64_t parent_uid = 0;
  for (size_t i = 0; i < keys.size() && (i + 1) * block_size <= token_ids.size(); ++i) {
    Block* block = Find(keys[i], ns, parent_uid, token_ids.subspan(i * block_size, block_size));
    if (block == nullptr) break;
    matched.push_back(block);
    parent_uid = block->uid;
  }
  return matched;
}

void PrefixIndex::Insert(Block* block) {
  map_.emplace(block->key, block);
  block->indexed = true;
}

void PrefixIndex::Erase(Block* block) {
  auto it = map_.find(block->key);
  if (it != map_.end() && it->second == block) map_.erase(it);
  block->indexed = false;
}

uint64_t PrefixIndex::overhead_bytes() const {
  return map_.capacity() * (sizeof(std::pair<BlockKey, Block*>) + 1);
}

}  // namespace pdserve::cache_manager::internal
