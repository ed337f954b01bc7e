// Per-token elementwise kernels: RMSNorm, rotary embedding, SwiGLU, residual add, vector exp.
// Each works on one token's vector with a fixed evaluation order, so a token's result never
// depends on which batch it is in.
#ifndef PDSERVE_DECODER_OPS_H_
#define PDSERVE_DECODER_OPS_H_

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "decoder/config.h"

namespace pdserve::decoder::internal {

// exp(x) for 8 lanes, ~2 ulp, our own polynomial (libm-independent). exp(-inf) = 0. Inline:
// attention calls it a few times per 16 keys.
inline __m256 Exp8(__m256 x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2].
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365447505531f);
  const __m256 is_small = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);  // underflows to 0 (incl. -inf)
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(is_small, result);
}

// Horizontal sum of 8 lanes in the fixed order ((0+4)+(2+6))+((1+5)+(3+7)).
inline float HorizontalSum(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
  return _mm_cvtss_f32(s1);
}

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], i in [0, n). out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// dst[i] += src[i], i in [0, n).
void AddInPlace(const float* src, int64_t n, float* dst);

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
