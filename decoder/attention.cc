// Attention over whole sequences: segments computed by the kernel table (attention_kernels.cc)
// and merged in order.
#include "decoder/attention.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "decoder/kernels.h"

namespace pdserve::decoder::internal {

void AttendSegment(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end,
                   int group, absl::Span<const AttentionQuery> queries, const KvSource& kv,
                   float scale, int64_t segment, float* state) {
  Kernels().attend_segment(layout, layer, kv_head_begin, kv_head_end, group, queries, kv, scale,
                           segment, state);
}

void FinishSegments(const KvLayout& layout, int kv_head_begin, int kv_head_end, int group,
                    absl::Span<const AttentionQuery> queries,
                    absl::Span<const float* const> states) {
  if (states.empty()) return;  // no keys at all (excluded by the callers' REQUIRES)
  const int heads_per_query = (kv_head_end - kv_head_begin) * group;
  const int64_t heads = static_cast<int64_t>(queries.size()) * heads_per_query;
  const KernelTable& k = Kernels();
  thread_local std::vector<float> running;
  running.assign(states[0], states[0] + heads * (layout.head_dim + 2));
  for (size_t s = 1; s < states.size(); ++s) {
    k.merge_state(running.data(), states[s], heads, layout.head_dim);
  }
  k.write_outputs(running.data(), heads_per_query, layout.head_dim, queries);
}

void AttendBlock(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end, int group,
                 absl::Span<const AttentionQuery> queries, const KvSource& kv, float scale) {
  int64_t max_keys = 0;
  for (const AttentionQuery& aq : queries) max_keys = std::max(max_keys, aq.num_keys);
  const int64_t segments = NumSegments(max_keys);
  if (segments == 0) return;
  const int heads_per_query = (kv_head_end - kv_head_begin) * group;
  const int64_t heads = static_cast<int64_t>(queries.size()) * heads_per_query;
  const KernelTable& k = Kernels();
  // Segments are merged as they are computed: two states, whatever the context length.
  thread_local std::vector<float> running, segment;
  running.resize(SegmentStateFloats(static_cast<int64_t>(queries.size()), heads_per_query,
                                    layout.head_dim));
  segment.resize(running.size());
  k.attend_segment(layout, layer, kv_head_begin, kv_head_end, group, queries, kv, scale, 0,
                   running.data());
  for (int64_t s = 1; s < segments; ++s) {
    k.attend_segment(layout, layer, kv_head_begin, kv_head_end, group, queries, kv, scale, s,
                     segment.data());
    k.merge_state(running.data(), segment.data(), heads, layout.head_dim);
  }
  k.write_outputs(running.data(), heads_per_query, layout.head_dim, queries);
}

void AttendGroup(const KvLayout& layout, int layer, int kv_head, int group, const float* q,
                 int64_t num_keys, const KvSource& kv, float scale, float* out) {
  const AttentionQuery query{q, num_keys, out};
  AttendBlock(layout, layer, kv_head, kv_head + 1, group, absl::MakeConstSpan(&query, 1), kv,
              scale);
}

}  // namespace pdserve::decoder::internal
