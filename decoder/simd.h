// The vector operations the decoder's kernels are written in, for the kernel family being
// compiled (decoder/kernel_target.h). Only *_kernels.cc files include this.
//
// F8 is 8 floats: __m256 on x86 (AVX2 and AVX-512 families), an array elsewhere. Every operation
// on the portable F8 computes, lane by lane, exactly what the x86 instruction computes (the same
// fused multiply-adds, the same reduction trees, x86's max/min on NaN), so one kernel source
// gives the same bits in every family. PV is one register's share of a 16-float weight panel
// row (kPanelVecs of them make a row): two F8 halves, or one __m512 in the AVX-512 family.
// A matmul output is one FMA chain per element whatever the vector width, so PV's width never
// changes a bit either.
#ifndef PDSERVE_DECODER_SIMD_H_
#define PDSERVE_DECODER_SIMD_H_

#include <bit>
#include <cmath>
#include <cstdint>

#include "decoder/kernel_target.h"

#if defined(PDSERVE_KERNEL_X86)
#include <immintrin.h>
#endif

PDSERVE_KERNEL_BEGIN
namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS {

// Prefetch hints: kNear into L1 (T0), kFar into L2 (T1).
inline void PrefetchNear(const void* p) { __builtin_prefetch(p, 0, 3); }
inline void PrefetchFar(const void* p) { __builtin_prefetch(p, 0, 2); }

#if defined(PDSERVE_KERNEL_X86)

using F8 = __m256;

inline F8 Zero8() { return _mm256_setzero_ps(); }
inline F8 Set8(float x) { return _mm256_set1_ps(x); }
inline F8 Iota8() { return _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7); }
inline F8 Load8(const float* p) { return _mm256_loadu_ps(p); }
inline F8 LoadAligned8(const float* p) { return _mm256_load_ps(p); }  // 32-byte aligned
inline void Store8(float* p, F8 v) { _mm256_storeu_ps(p, v); }
inline void StoreAligned8(float* p, F8 v) { _mm256_store_ps(p, v); }
inline F8 Add(F8 a, F8 b) { return _mm256_add_ps(a, b); }
inline F8 Sub(F8 a, F8 b) { return _mm256_sub_ps(a, b); }
inline F8 Mul(F8 a, F8 b) { return _mm256_mul_ps(a, b); }
inline F8 Div(F8 a, F8 b) { return _mm256_div_ps(a, b); }
inline F8 Fma(F8 a, F8 b, F8 c) { return _mm256_fmadd_ps(a, b, c); }    // a * b + c, one rounding
inline F8 Fnma(F8 a, F8 b, F8 c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b, one rounding
inline F8 Max(F8 a, F8 b) { return _mm256_max_ps(a, b); }  // a > b ? a : b
inline F8 Min(F8 a, F8 b) { return _mm256_min_ps(a, b); }  // a < b ? a : b
// All-ones lanes where a < b (ordered), zero elsewhere.
inline F8 Less(F8 a, F8 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline F8 And(F8 a, F8 b) { return _mm256_and_ps(a, b); }
inline F8 AndNot(F8 mask, F8 v) { return _mm256_andnot_ps(mask, v); }  // ~mask & v
inline F8 Xor(F8 a, F8 b) { return _mm256_xor_ps(a, b); }
// b where mask's lane is set, else a.
inline F8 Select(F8 a, F8 b, F8 mask) { return _mm256_blendv_ps(a, b, mask); }
// Rounds to the nearest integer, ties to even.
inline F8 RoundNearest(F8 x) {
  return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// 2^n for integral n in [-126, 128] (128 gives +inf).
inline F8 Pow2(F8 n) {
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}
inline float First(F8 v) { return _mm256_cvtss_f32(v); }

// Horizontal sum of 8 lanes in the fixed order ((0+4)+(2+6))+((1+5)+(3+7)).
inline float HorizontalSum(F8 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
  return _mm_cvtss_f32(s1);
}

// Max of 8 lanes: max with the other half, then with the other pair, then the neighbour.
inline float HorizontalMax(F8 v) {
  v = _mm256_max_ps(v, _mm256_permute2f128_ps(v, v, 1));
  v = _mm256_max_ps(v, _mm256_permute_ps(v, 0x4e));
  v = _mm256_max_ps(v, _mm256_permute_ps(v, 0xb1));
  return _mm256_cvtss_f32(v);
}

// Sums each of 8 vectors' lanes: result lane j = sum of v[j]'s lanes in the fixed order
// ((0+1)+(2+3)) + ((4+5)+(6+7)).
inline F8 Reduce8(const F8 v[8]) {
  const __m256 a01 = _mm256_hadd_ps(v[0], v[1]);
  const __m256 a23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 a45 = _mm256_hadd_ps(v[4], v[5]);
  const __m256 a67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 b0123 = _mm256_hadd_ps(a01, a23);  // [v0 lo, v1 lo, v2 lo, v3 lo | hi ...]
  const __m256 b4567 = _mm256_hadd_ps(a45, a67);
  const __m256 lo = _mm256_permute2f128_ps(b0123, b4567, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(b0123, b4567, 0x31);
  return _mm256_add_ps(lo, hi);
}

#if defined(PDSERVE_KERNEL_FAMILY_AVX512)
using PV = __m512;
inline constexpr int kPanelVecs = 1;
inline PV ZeroPV() { return _mm512_setzero_ps(); }
inline PV SetPV(float x) { return _mm512_set1_ps(x); }
inline PV LoadPV(const float* p) { return _mm512_loadu_ps(p); }
inline PV LoadAlignedPV(const float* p) { return _mm512_load_ps(p); }  // 64-byte aligned
inline void StorePV(float* p, PV v) { _mm512_storeu_ps(p, v); }
inline void StoreAlignedPV(float* p, PV v) { _mm512_store_ps(p, v); }
inline PV FmaPV(PV a, PV b, PV c) { return _mm512_fmadd_ps(a, b, c); }
#endif

#else  // portable

struct alignas(32) F8 {
  float v[8];
};

namespace simd_internal {
inline uint32_t Bits(float x) { return std::bit_cast<uint32_t>(x); }
inline float Float(uint32_t b) { return std::bit_cast<float>(b); }
template <typename Op>
inline F8 Map(F8 a, F8 b, Op op) {
  F8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = op(a.v[i], b.v[i]);
  return r;
}
}  // namespace simd_internal

inline F8 Zero8() { return F8{}; }
inline F8 Set8(float x) {
  F8 r;
  for (float& e : r.v) e = x;
  return r;
}
inline F8 Iota8() { return F8{{0, 1, 2, 3, 4, 5, 6, 7}}; }
inline F8 Load8(const float* p) {
  F8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = p[i];
  return r;
}
inline F8 LoadAligned8(const float* p) { return Load8(p); }
inline void Store8(float* p, F8 v) {
  for (int i = 0; i < 8; ++i) p[i] = v.v[i];
}
inline void StoreAligned8(float* p, F8 v) { Store8(p, v); }
inline F8 Add(F8 a, F8 b) { return simd_internal::Map(a, b, [](float x, float y) { return x + y; }); }
inline F8 Sub(F8 a, F8 b) { return simd_internal::Map(a, b, [](float x, float y) { return x - y; }); }
inline F8 Mul(F8 a, F8 b) { return simd_internal::Map(a, b, [](float x, float y) { return x * y; }); }
inline F8 Div(F8 a, F8 b) { return simd_internal::Map(a, b, [](float x, float y) { return x / y; }); }
inline F8 Fma(F8 a, F8 b, F8 c) {
  F8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
  return r;
}
inline F8 Fnma(F8 a, F8 b, F8 c) {
  F8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = std::fma(-a.v[i], b.v[i], c.v[i]);
  return r;
}
inline F8 Max(F8 a, F8 b) {
  return simd_internal::Map(a, b, [](float x, float y) { return x > y ? x : y; });
}
inline F8 Min(F8 a, F8 b) {
  return simd_internal::Map(a, b, [](float x, float y) { return x < y ? x : y; });
}
inline F8 Less(F8 a, F8 b) {
  return simd_internal::Map(
      a, b, [](float x, float y) { return simd_internal::Float(x < y ? 0xffffffffu : 0u); });
}
inline F8 And(F8 a, F8 b) {
  return simd_internal::Map(a, b, [](float x, float y) {
    return simd_internal::Float(simd_internal::Bits(x) & simd_internal::Bits(y));
  });
}
inline F8 AndNot(F8 mask, F8 v) {
  return simd_internal::Map(mask, v, [](float m, float x) {
    return simd_internal::Float(~simd_internal::Bits(m) & simd_internal::Bits(x));
  });
}
inline F8 Xor(F8 a, F8 b) {
  return simd_internal::Map(a, b, [](float x, float y) {
    return simd_internal::Float(simd_internal::Bits(x) ^ simd_internal::Bits(y));
  });
}
// b where mask's lane has its sign bit set, else a (as blendv).
inline F8 Select(F8 a, F8 b, F8 mask) {
  F8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = (simd_internal::Bits(mask.v[i]) >> 31) ? b.v[i] : a.v[i];
  return r;
}
inline F8 RoundNearest(F8 x) {
  F8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = std::nearbyint(x.v[i]);  // default mode: ties to even
  return r;
}
inline F8 Pow2(F8 n) {
  F8 r;
  for (int i = 0; i < 8; ++i) {
    const uint32_t e = static_cast<uint32_t>(static_cast<int32_t>(n.v[i]) + 127) << 23;
    r.v[i] = simd_internal::Float(e);
  }
  return r;
}
inline float First(F8 v) { return v.v[0]; }

inline float HorizontalSum(F8 v) {
  const float* x = v.v;
  return ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7]));
}

inline float HorizontalMax(F8 v) {
  auto max = [](float a, float b) { return a > b ? a : b; };
  float a[8], b[8];
  for (int i = 0; i < 8; ++i) a[i] = max(v.v[i], v.v[i ^ 4]);
  for (int i = 0; i < 8; ++i) b[i] = max(a[i], a[i ^ 2]);
  return max(b[0], b[1]);
}

inline F8 Reduce8(const F8 v[8]) {
  F8 r;
  for (int j = 0; j < 8; ++j) {
    const float* x = v[j].v;
    r.v[j] = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
  }
  return r;
}

#endif

#if !defined(PDSERVE_KERNEL_FAMILY_AVX512)
// A panel row is two F8 halves.
using PV = F8;
inline constexpr int kPanelVecs = 2;
inline PV ZeroPV() { return Zero8(); }
inline PV SetPV(float x) { return Set8(x); }
inline PV LoadPV(const float* p) { return Load8(p); }
inline PV LoadAlignedPV(const float* p) { return LoadAligned8(p); }
inline void StorePV(float* p, PV v) { Store8(p, v); }
inline void StoreAlignedPV(float* p, PV v) { StoreAligned8(p, v); }
inline PV FmaPV(PV a, PV b, PV c) { return Fma(a, b, c); }
#endif

// Floats in one PV.
inline constexpr int kPVFloats = 16 / kPanelVecs;

// exp(x) for 8 lanes, ~2 ulp, our own polynomial (libm-independent). exp(-inf) = 0.
inline F8 Exp8(F8 x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2].
  const F8 hi = Set8(88.3762626647949f);
  const F8 lo = Set8(-87.3365447505531f);
  const F8 is_small = Less(x, lo);  // underflows to 0 (incl. -inf)
  x = Min(Max(x, lo), hi);
  const F8 n = RoundNearest(Mul(x, Set8(1.44269504088896341f)));
  F8 r = Fnma(n, Set8(0.693359375f), x);
  r = Fnma(n, Set8(-2.12194440e-4f), r);
  F8 p = Set8(1.9875691500e-4f);
  p = Fma(p, r, Set8(1.3981999507e-3f));
  p = Fma(p, r, Set8(8.3334519073e-3f));
  p = Fma(p, r, Set8(4.1665795894e-2f));
  p = Fma(p, r, Set8(1.6666665459e-1f));
  p = Fma(p, r, Set8(5.0000001201e-1f));
  p = Fma(p, Mul(r, r), r);
  p = Add(p, Set8(1.0f));
  return AndNot(is_small, Mul(p, Pow2(n)));
}

}  // namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS
PDSERVE_KERNEL_END

#endif  // PDSERVE_DECODER_SIMD_H_
