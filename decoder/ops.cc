// Elementwise kernels (AVX2 + FMA).
#include "decoder/ops.h"

#include <cmath>
#include <numbers>

namespace pdserve::decoder::internal {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  float sum = HorizontalSum(acc);
  for (; i < n; ++i) sum = std::fma(x[i], x[i], sum);
  const float inv = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(weight + i)));
  }
  for (; i < n; ++i) out[i] = (x[i] * inv) * weight[i];
}

void AddInPlace(const float* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
  }
  for (; i < n; ++i) dst[i] += src[i];
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp8(_mm256_xor_ps(g, sign));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    alignas(32) float g[8] = {0}, u[8] = {0}, o[8];
    for (int64_t j = i; j < n; ++j) {
      g[j - i] = gate[j];
      u[j - i] = up[j];
    }
    SwiGlu(g, u, 8, o);
    for (int64_t j = i; j < n; ++j) out[j] = o[j - i];
  }
}

Rope::Rope(const ModelConfig& config) : head_dim_(config.head_dim) {
  const int half = head_dim_ / 2;
  const RopeScaling& rs = config.rope_scaling;
  inv_freq_.resize(half);
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(config.rope_theta, (2.0 * i) / head_dim_);
    if (rs.kind == "linear") {
      f /= rs.factor;
    } else if (rs.kind == "llama3") {
      const double wavelen = 2 * std::numbers::pi / f;
      const double low_wavelen = rs.original_max_position_embeddings / rs.low_freq_factor;
      const double high_wavelen = rs.original_max_position_embeddings / rs.high_freq_factor;
      if (wavelen > low_wavelen) {
        f /= rs.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (rs.original_max_position_embeddings / wavelen - rs.low_freq_factor) /
                              (rs.high_freq_factor - rs.low_freq_factor);
        f = (1 - smooth) * f / rs.factor + smooth * f;
      }
    }
    inv_freq_[i] = f;
  }
}

void Rope::Angles(int64_t position, float* cos_sin) const {
  const int half = head_dim_ / 2;
  for (int i = 0; i < half; ++i) {
    const double a = static_cast<double>(position) * inv_freq_[i];
    cos_sin[i] = static_cast<float>(std::cos(a));
    cos_sin[half + i] = static_cast<float>(std::sin(a));
  }
}

void Rope::Apply(const float* cos_sin, int num_heads, float* x) const {
  const int half = head_dim_ / 2;
  const float* c = cos_sin;
  const float* s = cos_sin + half;
  for (int h = 0; h < num_heads; ++h) {
    float* v = x + int64_t{h} * head_dim_;
    for (int i = 0; i < half; ++i) {
      const float x1 = v[i];
      const float x2 = v[i + half];
      v[i] = x1 * c[i] - x2 * s[i];
      v[i + half] = x2 * c[i] + x1 * s[i];
    }
  }
}

}  // namespace pdserve::decoder::internal
