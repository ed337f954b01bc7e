// PendingWrite: the blocks and token range a writer fills before its commit, and the lock-free
// byte copying and checksumming over them.
#ifndef PDSERVE_CACHE_MANAGER_PENDING_WRITE_H_
#define PDSERVE_CACHE_MANAGER_PENDING_WRITE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "cache_manager/block.h"

namespace pdserve::cache_manager::internal {

// Tokens [begin, end) of one sequence being written. targets[j] holds tokens
// [(first_block + j) * block_size, +block_size); when has_tail, targets[0] is the sequence's
// committed partial last block (pinned by this write, written only past its committed tokens),
// the others are fresh kInFlight blocks owned by this write.
//
// Thread-compatible. The writer guard of the sequence makes the target bytes past the committed
// length exclusive to whoever holds this object, so the functions below run without the lock.
struct PendingWrite {
  std::string sequence_id;
  const Namespace* ns = nullptr;
  uint32_t block_size = 0;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t first_block = 0;
  bool has_tail = false;
  std::vector<Block*> targets;
  std::vector<int32_t> appended_token_ids;  // tokens to add to the sequence (append only)
  std::vector<uint64_t> checksums;          // one per target, set by ComputeChecksums()
  uint64_t bytes_written = 0;

  // Valid tokens of targets[j] once the write commits.
  uint32_t ValidTokens(size_t j) const;
};

// Copies K/V of tokens [first_token, first_token + num_tokens), layers
// [layer_begin, layer_begin + num_layers), from `data` laid out
// [token][layer in range][kv][kv_head][head_dim] into the targets.
// REQUIRES: the ranges lie within the write and the layout, data.size() matches.
void CopyIntoTargets(PendingWrite& write, uint64_t first_token, uint64_t num_tokens,
                     uint32_t layer_begin, uint32_t num_layers, absl::Span<const std::byte> data);

// Fills write.checksums with the XXH3-64 of each target's valid bytes after the write.
void ComputeChecksums(PendingWrite& write);

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_PENDING_WRITE_H_
