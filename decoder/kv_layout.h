// K/V layout shared with the cache manager's wire format, and the paged view of a sequence's K/V.
#ifndef PDSERVE_DECODER_KV_LAYOUT_H_
#define PDSERVE_DECODER_KV_LAYOUT_H_

#include <cstdint>
#include <cstring>

#include "absl/types/span.h"

namespace pdserve::decoder {

// fp32, little-endian, token-major. One token's K/V is
//   [layer][kv (0 = K, 1 = V)][kv_head][head_dim]
// floats; K is stored after RoPE.
struct KvLayout {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;

  // Floats per token: num_layers * 2 * num_kv_heads * head_dim.
  int64_t TokenFloats() const { return num_layers * LayerFloats(); }
  // Floats per token per layer: 2 * num_kv_heads * head_dim.
  int64_t LayerFloats() const { return int64_t{2} * num_kv_heads * head_dim; }
  // Offset of (layer, kv, kv_head) inside one token's K/V.
  int64_t Offset(int layer, int kv, int kv_head) const {
    return layer * LayerFloats() + (int64_t{kv} * num_kv_heads + kv_head) * head_dim;
  }
  bool operator==(const KvLayout&) const = default;
};

// `num_tokens` consecutive tokens. Not owned. Two orders:
//  - token-major (block_capacity == 0), the wire layout: data holds num_tokens * TokenFloats()
//    floats, token after token;
//  - head-major block (block_capacity = C > 0): room for C tokens, stored
//    [layer][kv_head][K/V][slot][head_dim]. A head's keys of the whole block are one contiguous
//    run of C * head_dim floats, its values the next run, then the next head's: attention reads
//    a layer of the block as one sequential stream, which the hardware prefetchers follow. In
//    token-major order a layer is a short run every TokenFloats().
// Element (token j, layer, kv, kv_head) is at
//   Layer(layout, layer) + kv * KvStride(layout) + kv_head * HeadStride(layout) + j * TokenStride(layout).
struct KvSpan {
  const float* data = nullptr;
  int64_t num_tokens = 0;
  int64_t block_capacity = 0;

  int64_t TokenStride(const KvLayout& layout) const {
    return block_capacity > 0 ? layout.head_dim : layout.TokenFloats();
  }
  int64_t KvStride(const KvLayout& layout) const {
    return block_capacity > 0 ? block_capacity * layout.head_dim
                              : int64_t{layout.num_kv_heads} * layout.head_dim;
  }
  int64_t HeadStride(const KvLayout& layout) const {
    return block_capacity > 0 ? 2 * block_capacity * layout.head_dim : layout.head_dim;
  }
  const float* Layer(const KvLayout& layout, int layer) const {
    return data + layer * (block_capacity > 0 ? block_capacity : 1) * layout.LayerFloats();
  }
};

// Copies `n` token-major tokens into slots [first_slot, first_slot + n) of a head-major block
// with room for `capacity` tokens. REQUIRES: first_slot + n <= capacity.
inline void CopyToBlock(const KvLayout& layout, const float* tokens, int64_t n, int64_t capacity,
                        int64_t first_slot, float* block) {
  const KvSpan dst{block, first_slot + n, capacity};  // addressed as attention will read it
  for (int64_t j = 0; j < n; ++j) {
    const float* src = tokens + j * layout.TokenFloats();
    const int64_t slot = (first_slot + j) * dst.TokenStride(layout);
    for (int l = 0; l < layout.num_layers; ++l) {
      float* layer = block + (dst.Layer(layout, l) - dst.data) + slot;
      for (int kv = 0; kv < 2; ++kv) {
        for (int h = 0; h < layout.num_kv_heads; ++h) {
          std::memcpy(layer + kv * dst.KvStride(layout) + h * dst.HeadStride(layout),
                      src + layout.Offset(l, kv, h), layout.head_dim * sizeof(float));
        }
      }
    }
  }
}

// A sequence's K/V for positions 0, 1, 2, ... in order, as spans of any sizes (e.g. 16-token
// blocks living anywhere in memory, then a partial tail).
using KvView = absl::Span<const KvSpan>;

// Total tokens covered by `view`.
inline int64_t TotalTokens(KvView view) {
  int64_t n = 0;
  for (const KvSpan& s : view) n += s.num_tokens;
  return n;
}

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_KV_LAYOUT_H_
