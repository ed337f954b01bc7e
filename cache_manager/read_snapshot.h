// ReadSnapshot: pinned views of a sequence's committed blocks, copied out without the lock.
#ifndef PDSERVE_CACHE_MANAGER_READ_SNAPSHOT_H_
#define PDSERVE_CACHE_MANAGER_READ_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "cache_manager/block.h"
#include "cache_manager/block_key.h"

namespace pdserve::cache_manager {

class KvCacheManager;

// One block of a read. `data` is the block's valid bytes: num_tokens x token bytes, token-major,
// first token first_token == block_index * block_size.
struct BlockView {
  uint64_t block_index = 0;
  uint64_t first_token = 0;
  uint32_t num_tokens = 0;
  bool has_key = false;   // true for full indexed blocks: the reader may cache them by key
  BlockKey key;           // valid when has_key
  uint64_t checksum = 0;  // XXH3-64 of data; readers verify it (DATA_LOSS on mismatch)
  absl::Span<const std::byte> data;
};

// The result of KvCacheManager::Read(). Holds a reference on every block it shows, so the bytes
// stay valid and unchanged until it is destroyed, whatever the sequence does meanwhile
// (append, release, eviction). Move-only.
//
// Thread-compatible: the views may be read from any threads concurrently; destroy it once.
// REQUIRES: the manager outlives it.
class ReadSnapshot {
 public:
  ReadSnapshot() = default;
  ReadSnapshot(ReadSnapshot&& other) noexcept;
  ReadSnapshot& operator=(ReadSnapshot&& other) noexcept;
  ~ReadSnapshot();

  // Committed length of the sequence when the snapshot was taken.
  uint64_t sequence_length() const { return sequence_length_; }
  uint32_t block_size() const { return block_size_; }
  uint64_t token_bytes() const { return token_bytes_; }
  // Blocks overlapping [from_token, sequence_length()), minus those the reader holds, in order.
  absl::Span<const BlockView> blocks() const { return views_; }

 private:
  friend class KvCacheManager;
  void Reset();

  KvCacheManager* manager_ = nullptr;
  uint64_t sequence_length_ = 0;
  uint32_t block_size_ = 0;
  uint64_t token_bytes_ = 0;
  std::vector<BlockView> views_;
  std::vector<internal::Block*> pins_;
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_READ_SNAPSHOT_H_
