// Causal grouped-query attention of one query token over a paged K/V view.
#ifndef PDSERVE_DECODER_ATTENTION_H_
#define PDSERVE_DECODER_ATTENTION_H_

#include <cstdint>

#include "absl/types/span.h"
#include "decoder/kv_layout.h"

namespace pdserve::decoder::internal {

// Largest head_dim the attention kernel supports.
inline constexpr int kMaxHeadDim = 256;
// Keys are processed in chunks of this many absolute positions ([0,16), [16,32), ...), so the
// arithmetic is independent of how K/V is split into spans.
inline constexpr int kAttentionChunk = 16;
// Keys are also split into segments of this many absolute positions ([0,256), [256,512), ...):
// each segment's softmax runs from a fresh state, and the segments' states are merged left to
// right. Threads can then share one long sequence without changing a bit of the result.
inline constexpr int64_t kAttentionSegment = 256;

// Segments covering positions [0, num_keys).
inline int64_t NumSegments(int64_t num_keys) {
  return (num_keys + kAttentionSegment - 1) / kAttentionSegment;
}

// A sequence's K/V for positions 0.. : the spans of `past` (token-major or head-major
// blocks), then `tail_tokens` tokens at `tail` (token-major, TokenFloats() floats each; e.g.
// the tokens being computed right now).
struct KvSource {
  KvView past;
  const float* tail = nullptr;
  int64_t tail_tokens = 0;
};

// For the query heads [kv_head * group, (kv_head + 1) * group) of one token at position
// num_keys - 1, computes softmax(q k^T * scale) v over positions [0, num_keys) of `kv` with a
// numerically stable online softmax.
// q: group x head_dim floats (after RoPE). out: group x head_dim floats.
// REQUIRES: kv covers at least num_keys tokens; layout.head_dim % 8 == 0, <= kMaxHeadDim;
// num_keys >= 1.
// The result bits depend only on q, the K/V values and num_keys (not on spans or callers):
// Prefill and DecodeStep both use this routine.
void AttendGroup(const KvLayout& layout, int layer, int kv_head, int group, const float* q,
                 int64_t num_keys, const KvSource& kv, float scale, float* out);

// One query token for AttendBlock: q and out are group x head_dim floats.
struct AttentionQuery {
  const float* q;
  int64_t num_keys;
  float* out;
};

// AttendGroup for several queries of one sequence (prefill) and the kv heads
// [kv_head_begin, kv_head_end) at once: each chunk of K/V is read once for all of them.
// queries[i].q and .out hold (kv_head_end - kv_head_begin) * group heads of head_dim floats,
// starting at query head kv_head_begin * group. Each (query, head) result is bit-identical to
// AttendGroup's.
// REQUIRES: kv covers max(num_keys) tokens; the other requirements of AttendGroup.
void AttendBlock(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end, int group,
                 absl::Span<const AttentionQuery> queries, const KvSource& kv, float scale);

// AttendBlock in pieces, so that threads can split one sequence's keys: AttendSegment computes
// the softmax state of every (query, head) over the keys of one segment, and FinishSegments
// merges the states of segments 0, 1, ... in order and writes the outputs. AttendBlock is
// exactly these calls, so the bits are the same however the segments were distributed.
// A state holds SegmentStateFloats(queries.size(), (kv_head_end - kv_head_begin) * group,
// head_dim) floats; a query with no keys in the segment gets an empty state.
inline int64_t SegmentStateFloats(int64_t num_queries, int heads_per_query, int head_dim) {
  return num_queries * heads_per_query * (head_dim + 2);
}
void AttendSegment(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end,
                   int group, absl::Span<const AttentionQuery> queries, const KvSource& kv,
                   float scale, int64_t segment, float* state);
// REQUIRES: states[s] is segment s's state, for s in [0, NumSegments(max num_keys)).
void FinishSegments(const KvLayout& layout, int kv_head_begin, int kv_head_end, int group,
                    absl::Span<const AttentionQuery> queries,
                    absl::Span<const float* const> states);

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_ATTENTION_H_
