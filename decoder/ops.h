// Per-token elementwise kernels: RMSNorm, rotary embedding, SwiGLU, residual add, vector exp.
// Each works on one token's vector with a fixed evaluation order, so a token's result never
// depends on which batch it is in.
#ifndef PDSERVE_DECODER_OPS_H_
#define PDSERVE_DECODER_OPS_H_

#include <cstdint>
#include <vector>

#include "decoder/config.h"

namespace pdserve::decoder::internal {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], i in [0, n). out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// dst[i] += src[i], i in [0, n).
void AddInPlace(const float* src, int64_t n, float* dst);

// out[i] = exp(x[i]) for i in [0, n), ~2 ulp, with the kernels' own polynomial (libm-independent);
// exp(-inf) = 0. The same function softmax and SwiGLU use.
void Exp(const float* x, int64_t n, float* out);

// out[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i], i in [0, n).
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// Rotary embedding with HF's rotate_half convention: within each head of head_dim floats,
// (x[i], x[i + head_dim/2]) is rotated by angle position * inv_freq[i].
class Rope {
 public:
  explicit Rope(const ModelConfig& config);
  // Fills cos_sin with head_dim/2 cosines then head_dim/2 sines for `position`.
  void Angles(int64_t position, float* cos_sin) const;
  // Rotates `num_heads` consecutive heads of x in place with Angles() output.
  void Apply(const float* cos_sin, int num_heads, float* x) const;
  int head_dim() const { return head_dim_; }

 private:
  int head_dim_;
  std::vector<double> inv_freq_;  // head_dim / 2 entries, rope_scaling applied
};

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_OPS_H_
