// Elementwise kernels (through the kernel table) and rotary embedding.
#include "decoder/ops.h"

#include <cmath>
#include <numbers>

#include "decoder/kernels.h"

namespace pdserve::decoder::internal {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  Kernels().rms_norm(x, weight, n, eps, out);
}

void AddInPlace(const float* src, int64_t n, float* dst) { Kernels().add_in_place(src, n, dst); }

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  Kernels().swiglu(gate, up, n, out);
}

void Exp(const float* x, int64_t n, float* out) { Kernels().exp(x, n, out); }

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
