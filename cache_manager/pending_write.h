// PendingWrite: the blocks and token range a writer fills before its commit, and the lock-free
// byte copying and checksumming over them.
#ifndef PDSERVE_CACHE_MANAGER_PENDING_WRITE_H_
#define PDSERVE_CACHE_MANAGER_PENDING_WRITE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "cache_manager/block.h"

namespace pdserve::cache_manager::internal {

// The running XXH3-64 of one block (defined in pending_write.cc, which owns xxhash).
struct ChecksumState;
struct ChecksumStateDeleter {
  void operator()(ChecksumState* state) const;
};

// Tokens [begin, end) of one sequence being written. targets[j] holds tokens
// [(first_block + j) * block_size, +block_size); when has_tail, targets[0] is the sequence's
// committed partial last block (pinned by this write, written only past its committed tokens),
// the others are fresh kInFlight blocks owned by this write.
//
// Checksums are computed as the bytes arrive, not in a pass at commit: tokens
// [begin, hashed_end) have every layer written and are fed, in order, to the running XXH3-64
// state of the block holding hashed_end (which started with the tail's committed bytes, if
// any). checksums[j] is final once hashed_end passes targets[j]'s valid tokens.
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
  std::vector<uint64_t> checksums;          // one per target, final once hashed_end == end
  uint64_t hashed_end = 0;                  // set to begin by the manager
  std::unique_ptr<ChecksumState, ChecksumStateDeleter> hash_state;  // made on first use
  uint64_t bytes_written = 0;

  // Valid tokens of targets[j] once the write commits.
  uint32_t ValidTokens(size_t j) const;
};

// Copies K/V of tokens [first_token, first_token + num_tokens), layers
// [layer_begin, layer_begin + num_layers), from the concatenation of `pieces` laid out
// [token][layer in range][kv][kv_head][head_dim] into the targets. When the slab holds every
// layer and starts at hashed_end, its tokens are checksummed as they are copied, while the
// copied bytes are still in cache.
// REQUIRES: the ranges lie within the write and the layout, the pieces' sizes add up to the
// slab's bytes, and every layer of the tokens before first_token is written.
void CopyIntoTargets(PendingWrite& write, uint64_t first_token, uint64_t num_tokens,
                     uint32_t layer_begin, uint32_t num_layers,
                     absl::Span<const absl::Span<const std::byte>> pieces);

// Feeds tokens [hashed_end, upto) to the checksums from the blocks' bytes.
// REQUIRES: every layer of those tokens is written; upto <= end.
void HashUpTo(PendingWrite& write, uint64_t upto);

// Completes write.checksums: the XXH3-64 of each target's valid bytes after the write.
// REQUIRES: every layer of [begin, end) is written.
void FinishChecksums(PendingWrite& write);

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_PENDING_WRITE_H_
