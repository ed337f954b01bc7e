// Layer-by-layer forward pass over a set of token rows.
#include "decoder/forward.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "decoder/aligned_buffer.h"
#include "decoder/linear.h"

namespace pdserve::decoder::internal {
namespace {

// True if `b` is the token right after `a` in the same sequence with the same K/V storage.
bool SameSequence(const ForwardRow& a, const ForwardRow& b) {
  return a.kv.past.data() == b.kv.past.data() && a.kv.past.size() == b.kv.past.size() &&
         a.kv.tail == b.kv.tail && b.kv.tail_tokens == a.kv.tail_tokens + 1 &&
         b.position == a.position + 1;
}

// A share of one layer's attention (see PlanAttention).
struct AttentionItem {
  int64_t block;    // index into the query blocks
  int64_t segment;  // key segment, or -1 for all of them (merged in place)
  int h0, h1;       // kv heads
  float* state;     // the segment's softmax state, when segment >= 0
};

// Splits a layer's attention into work items for `threads` threads: (query block, key segment
// or -1 for all of them, kv head range). With at least as many blocks as threads, each block is
// one item (a single pass over its K/V). With fewer, a block's keys are split by segment so
// every thread works on one long sequence, each reading whole runs of K/V; if that still leaves
// a thread idle (short contexts), items are split by kv heads too. Items of one (block, heads)
// are consecutive in segment order. Segment states live in *states. None of this changes the
// result's bits.
std::vector<AttentionItem> PlanAttention(absl::Span<const ForwardRow> rows,
                                         absl::Span<const std::pair<int64_t, int64_t>> blocks,
                                         int threads, int kv_heads, int group, int64_t head_dim,
                                         AlignedBuffer* states) {
  const bool split = blocks.size() < static_cast<size_t>(threads);
  auto segments_of = [&](const std::pair<int64_t, int64_t>& block) {
    return split ? NumSegments(rows[block.second - 1].position + 1) : int64_t{1};
  };
  int64_t total = 0;
  for (const auto& block : blocks) total += segments_of(block);
  const int ranges = total < threads ? std::min(kv_heads, threads) : 1;
  std::vector<AttentionItem> items;
  std::vector<int64_t> offsets;  // of each item's state in *states, -1 for none
  int64_t floats = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (int r = 0; r < ranges; ++r) {
      const int h0 = kv_heads * r / ranges, h1 = kv_heads * (r + 1) / ranges;
      for (int64_t sg = 0; sg < segments_of(blocks[b]); ++sg) {
        items.push_back({static_cast<int64_t>(b), split ? sg : -1, h0, h1, nullptr});
        offsets.push_back(split ? floats : -1);
        if (split) {
          floats += SegmentStateFloats(blocks[b].second - blocks[b].first, (h1 - h0) * group,
                                       static_cast<int>(head_dim));
        }
      }
    }
  }
  *states = AlignedBuffer(floats);
  for (size_t i = 0; i < items.size(); ++i) {
    if (offsets[i] >= 0) items[i].state = states->data() + offsets[i];
  }
  return items;
}

}  // namespace

void Forward(const ModelState& model, absl::Span<const ForwardRow> rows, float* kv_out,
             absl::FunctionRef<void(int)> on_layer, absl::Span<const int64_t> logit_rows,
             float* logits_out) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  ThreadPool* pool = &model.pool;
  const KvLayout layout{c.num_layers, c.num_kv_heads, c.head_dim};
  const int64_t t = static_cast<int64_t>(rows.size());
  const int64_t h = c.hidden_size;
  const int64_t d = c.head_dim;
  const int64_t q_width = c.num_heads * d;
  const int64_t kv_width = c.num_kv_heads * d;
  const int64_t qkv_width = q_width + 2 * kv_width;
  const int64_t inter = c.intermediate_size;
  const int64_t token_floats = layout.TokenFloats();
  const int group = c.num_heads / c.num_kv_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  AlignedBuffer x(t * h), xn(t * h), tmp(t * h), qkv(t * qkv_width), attn(t * q_width),
      gu(t * 2 * inter), act(t * inter), angles(t * d);
  for (int64_t i = 0; i < t; ++i) {
    std::memcpy(x.data() + i * h, w.embed.data() + int64_t{rows[i].token} * h, h * sizeof(float));
    model.rope.Angles(rows[i].position, angles.data() + i * d);
  }

  // Consecutive rows of one sequence (same past, same tail buffer, consecutive positions) attend
  // together, so each K/V chunk is read once per block.
  constexpr int64_t kQueryBlock = 8;
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (int64_t i = 0; i < t;) {
    int64_t j = i + 1;
    while (j < t && j - i < kQueryBlock && SameSequence(rows[j - 1], rows[j])) ++j;
    blocks.emplace_back(i, j);
    i = j;
  }

  AlignedBuffer segment_states;
  const std::vector<AttentionItem> items =
      PlanAttention(rows, blocks, pool->num_threads(), c.num_kv_heads, group, d, &segment_states);

  for (int layer = 0; layer < c.num_layers; ++layer) {
    const LayerWeights& lw = w.layers[layer];
    for (int64_t i = 0; i < t; ++i) {
      RmsNorm(x.data() + i * h, lw.input_norm.data(), h, eps, xn.data() + i * h);
    }
    MatMul(lw.qkv, xn.data(), t, h, qkv.data(), qkv_width, pool);
    for (int64_t i = 0; i < t; ++i) {
      float* row = qkv.data() + i * qkv_width;
      const float* cs = angles.data() + i * d;
      model.rope.Apply(cs, c.num_heads, row);
      model.rope.Apply(cs, c.num_kv_heads, row + q_width);
      float* dst = kv_out + i * token_floats + layout.Offset(layer, 0, 0);
      std::memcpy(dst, row + q_width, 2 * kv_width * sizeof(float));  // K then V
    }
    on_layer(layer);

    // The queries of an item's block, from its first kv head on.
    auto item_queries = [&](const AttentionItem& item, AttentionQuery* queries) {
      const auto [b0, b1] = blocks[item.block];
      const int64_t first_head = int64_t{item.h0} * group * d;
      for (int64_t i = b0; i < b1; ++i) {
        queries[i - b0] = {qkv.data() + i * qkv_width + first_head, rows[i].position + 1,
                           attn.data() + i * q_width + first_head};
      }
      return absl::MakeConstSpan(queries, b1 - b0);
    };
    pool->Run([&](int index, int count) {
      AttentionQuery queries[kQueryBlock];
      for (size_t it = index; it < items.size(); it += count) {
        const AttentionItem& item = items[it];
        const int64_t b1 = blocks[item.block].second;
        // The last row's source covers every row of the block.
        const auto block_queries = item_queries(item, queries);
        if (item.segment < 0) {
          AttendBlock(layout, layer, item.h0, item.h1, group, block_queries, rows[b1 - 1].kv,
                      scale);
        } else {
          AttendSegment(layout, layer, item.h0, item.h1, group, block_queries, rows[b1 - 1].kv,
                        scale, item.segment, item.state);
        }
      }
    });
    // Merge the segments of split sequences, in segment order.
    for (size_t it = 0; it < items.size();) {
      const AttentionItem& item = items[it];
      if (item.segment < 0) {
        ++it;
        continue;
      }
      AttentionQuery queries[kQueryBlock];
      const auto block_queries = item_queries(item, queries);
      std::vector<const float*> states;  // this (block, heads)'s segments, in order
      for (; it < items.size() && items[it].block == item.block && items[it].h0 == item.h0; ++it) {
        states.push_back(items[it].state);
      }
      FinishSegments(layout, item.h0, item.h1, group, block_queries, states);
    }
    MatMul(lw.o, attn.data(), t, q_width, tmp.data(), h, pool);
    for (int64_t i = 0; i < t; ++i) AddInPlace(tmp.data() + i * h, h, x.data() + i * h);

    for (int64_t i = 0; i < t; ++i) {
      RmsNorm(x.data() + i * h, lw.post_attention_norm.data(), h, eps, xn.data() + i * h);
    }
    MatMul(lw.gate_up, xn.data(), t, h, gu.data(), 2 * inter, pool);
    for (int64_t i = 0; i < t; ++i) {
      const float* g = gu.data() + i * 2 * inter;
      SwiGlu(g, g + inter, inter, act.data() + i * inter);
    }
    MatMul(lw.down, act.data(), t, inter, tmp.data(), h, pool);
    for (int64_t i = 0; i < t; ++i) AddInPlace(tmp.data() + i * h, h, x.data() + i * h);
  }

  const int64_t n = static_cast<int64_t>(logit_rows.size());
  for (int64_t j = 0; j < n; ++j) {
    RmsNorm(x.data() + logit_rows[j] * h, w.final_norm.data(), h, eps, xn.data() + j * h);
  }
  MatMul(w.lm_head, xn.data(), n, h, logits_out, c.vocab_size, pool);
}

}  // namespace pdserve::decoder::internal
