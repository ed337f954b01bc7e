// LocalKv: a decode sequence's local copy of its K/V blocks, built from cache-manager reads and
// extended with every token whose K/V the manager acknowledged.
#ifndef PDSERVE_SERVICES_DECODE_LOCAL_KV_H_
#define PDSERVE_SERVICES_DECODE_LOCAL_KV_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "decoder/kv_layout.h"
#include "services/decode/kv_block_arena.h"
#include "services/kv_client/kv_cache_client.h"

namespace pdserve::decode {

// Thread-compatible: built by an admission worker, then used by the scheduler's loop thread
// only (the hand-over is ordered by the scheduler's mutex).
//
// Two modes. Growable (the manager reported a block size and the caller keeps blocks): every
// block is an arena slot, head-major with room for block_size tokens, so the last block grows
// in place and a later read fetches only the blocks not held. Otherwise every block aliases the
// read buffer, token-major as it came off the wire, and each read replaces the whole copy.
// Invariant: blocks_[i].index == i, and block i starts where block i - 1 ends.
class LocalKv {
 public:
  // `arenas` (not owned) must outlive this copy. `keep_blocks`: growable when the manager
  // reports a block size (false re-reads everything, for comparison).
  LocalKv(const decoder::KvLayout& layout, KvBlockArenas* arenas, bool keep_blocks);

  // Full blocks held, to pass as Read's `held`.
  std::vector<kvclient::BlockKey> HeldKeys() const;

  // Merges a read of `sequence_id`. FAILED_PRECONDITION when the manager holds another length
  // than `expected_length`; DATA_LOSS when the blocks do not fit the copy (a block before its
  // predecessors, a size that disagrees with the layout, the block size changing) or do not
  // cover exactly [0, expected_length). On error the copy may be partly updated: the caller
  // ends the sequence.
  absl::Status Merge(kvclient::ReadResult read, uint64_t expected_length,
                     const std::string& sequence_id);

  // True when Append may be used.
  bool growable() const { return keep_blocks_ && block_size_ > 0; }
  // Adds one token's K/V (TokenFloats floats, token-major). REQUIRES: growable().
  void Append(absl::Span<const float> kv);

  // Tokens covered from position 0.
  uint64_t covered() const;
  // The copy as attention reads it; valid until the next Merge or Append.
  const std::vector<decoder::KvSpan>& spans() const { return spans_; }

 private:
  struct Block {
    uint32_t index = 0;
    uint64_t first_token = 0;
    uint32_t num_tokens = 0;
    std::optional<kvclient::BlockKey> key;  // full blocks read from the manager
    std::shared_ptr<float> data;
    uint32_t capacity = 0;  // 0: token-major alias of the read buffer
  };
  absl::Status CheckCoverage(uint64_t expected_length, const std::string& sequence_id) const;
  void RebuildSpans();

  const decoder::KvLayout layout_;
  KvBlockArenas* const arenas_;
  const bool keep_blocks_;
  uint32_t block_size_ = 0;  // the manager's, from the first read
  std::vector<Block> blocks_;
  std::vector<decoder::KvSpan> spans_;
};

}  // namespace pdserve::decode

#endif  // PDSERVE_SERVICES_DECODE_LOCAL_KV_H_
