// Elementwise kernels of one kernel family (see kernel_target.h).
#include <cmath>

#include "decoder/kernel_decls.h"

PDSERVE_KERNEL_BEGIN
namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  F8 acc = Zero8();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const F8 v = Load8(x + i);
    acc = Fma(v, v, acc);
  }
  float sum = HorizontalSum(acc);
  for (; i < n; ++i) sum = std::fma(x[i], x[i], sum);
  const float inv = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
  const F8 vinv = Set8(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const F8 v = Mul(Load8(x + i), vinv);
    Store8(out + i, Mul(v, Load8(weight + i)));
  }
  for (; i < n; ++i) out[i] = (x[i] * inv) * weight[i];
}

void AddInPlace(const float* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) Store8(dst + i, Add(Load8(dst + i), Load8(src + i)));
  for (; i < n; ++i) dst[i] += src[i];
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  const F8 one = Set8(1.0f);
  const F8 sign = Set8(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const F8 g = Load8(gate + i);
    const F8 e = Exp8(Xor(g, sign));
    const F8 silu = Div(g, Add(one, e));
    Store8(out + i, Mul(silu, Load8(up + i)));
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

void Exp(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i += 8) {
    alignas(32) float in[8] = {0}, res[8];
    for (int64_t j = i; j < n && j < i + 8; ++j) in[j - i] = x[j];
    Store8(res, Exp8(Load8(in)));
    for (int64_t j = i; j < n && j < i + 8; ++j) out[j] = res[j - i];
  }
}

}  // namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS
PDSERVE_KERNEL_END
