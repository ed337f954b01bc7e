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

    // Attention: one work item per (block of rows sharing K/V, range of kv heads), dealt
    // round-robin to balance causal cost. A lone row (decode batch 1) is split by kv heads so
    // every thread works; otherwise one item covers all kv heads, a single pass over the K/V.
    const int ranges = blocks.size() >= static_cast<size_t>(pool->num_threads())
                           ? 1
                           : std::min(c.num_kv_heads, pool->num_threads());
    const int64_t items = static_cast<int64_t>(blocks.size()) * ranges;
    pool->Run([&](int index, int count) {
      AttentionQuery queries[kQueryBlock];
      for (int64_t it = index; it < items; it += count) {
        const auto [b0, b1] = blocks[it / ranges];
        const int r = static_cast<int>(it % ranges);
        const int h0 = c.num_kv_heads * r / ranges, h1 = c.num_kv_heads * (r + 1) / ranges;
        for (int64_t i = b0; i < b1; ++i) {
          queries[i - b0] = {qkv.data() + i * qkv_width + h0 * group * d, rows[i].position + 1,
                             attn.data() + i * q_width + h0 * group * d};
        }
        // The last row's source covers every row of the block.
        AttendBlock(layout, layer, h0, h1, group, absl::MakeConstSpan(queries, b1 - b0),
                    rows[b1 - 1].kv, scale);
      }
    });
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
