// K/V layout shared with the cache manager's wire format, and the paged view of a sequence's K/V.
#ifndef PDSERVE_DECODER_KV_LAYOUT_H_
#define PDSERVE_DECODER_KV_LAYOUT_H_

#include <cstdint>

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

// `num_tokens` consecutive tokens: data holds num_tokens * TokenFloats() floats. Not owned.
struct KvSpan {
  const float* data = nullptr;
  int64_t num_tokens = 0;
};

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
