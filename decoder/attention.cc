// Chunked online-softmax attention reading K/V in place from spans.
#include "decoder/attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "decoder/ops.h"

namespace pdserve::decoder::internal {
namespace {

// Walks the positions of a KvSource in order, yielding each token's base pointer.
class KvCursor {
 public:
  KvCursor(const KvSource& kv, int64_t token_floats) : kv_(kv), token_floats_(token_floats) {}

  // Pointer to the next position's K/V (token base).
  const float* Next() {
    while (span_ < kv_.past.size() && offset_ >= kv_.past[span_].num_tokens) {
      ++span_;
      offset_ = 0;
    }
    if (span_ < kv_.past.size()) return kv_.past[span_].data + (offset_++) * token_floats_;
    return kv_.tail + (offset_++) * token_floats_;
  }

 private:
  const KvSource& kv_;
  int64_t token_floats_;
  size_t span_ = 0;
  int64_t offset_ = 0;
};

// Sums each of 8 vectors' lanes: result lane j = sum of v[j]'s lanes in the fixed order
// ((0+1)+(2+3)) + ((4+5)+(6+7)).
inline __m256 Reduce8(const __m256 v[8]) {
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

// scores[j] = dot(q, keys[j]) * scale for 8 keys.
inline __m256 Scores8(const float* q, const float* const keys[8], int head_dim, __m256 scale) {
  __m256 acc[8];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
  for (int d = 0; d < head_dim; d += 8) {
    const __m256 qv = _mm256_loadu_ps(q + d);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(keys[j] + d), acc[j]);
  }
  return _mm256_mul_ps(Reduce8(acc), scale);
}

// Prefetches the next chunk's K/V lines a few at a time, spread over the current chunk's
// arithmetic. Issued in one burst they fill the core's miss buffers and stall it while the
// current chunk waits; spread out they overlap it (on 2 MiB pages, 9.5 -> 11.5 GB/s of K/V at
// ctx 4096 with 2 threads; on 4 KiB pages TLB misses dominate either way).
class PrefetchCursor {
 public:
  // `n` tokens' K and V rows of `range_floats` floats at k_begin / v_begin, over `steps` calls
  // of Step().
  void Reset(const float* const* tokens, int n, int64_t k_begin, int64_t v_begin,
             int64_t range_floats, int64_t steps) {
    tokens_ = tokens;
    n_ = n;
    offsets_[0] = k_begin;
    offsets_[1] = v_begin;
    lines_ = (range_floats + 15) / 16;
    token_ = 0;
    kv_ = 0;
    line_ = 0;
    const int64_t total = int64_t{n} * lines_ * 2;
    per_step_ = steps > 0 ? (total + steps - 1) / steps : total;
  }
  // Issues the next share.
  void Step() { Issue(per_step_); }
  // Issues whatever is left.
  void Finish() { Issue(INT64_MAX); }

 private:
  void Issue(int64_t count) {
    for (; count > 0 && token_ < n_; --count) {
      _mm_prefetch(reinterpret_cast<const char*>(tokens_[token_] + offsets_[kv_] + line_ * 16),
                   _MM_HINT_T0);
      if (++line_ == lines_) {
        line_ = 0;
        if (++kv_ == 2) {
          kv_ = 0;
          ++token_;
        }
      }
    }
  }

  const float* const* tokens_ = nullptr;
  int n_ = 0;
  int64_t offsets_[2] = {0, 0};
  int64_t lines_ = 0;
  int token_ = 0;
  int kv_ = 0;
  int64_t line_ = 0;
  int64_t per_step_ = 0;
};

}  // namespace

void AttendBlock(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end, int group,
                 absl::Span<const AttentionQuery> queries, const KvSource& kv, float scale) {
  const int head_dim = layout.head_dim;
  const int num_kv = kv_head_end - kv_head_begin;
  // K (and V) of the kv heads in range are contiguous within a token.
  const int64_t k_begin = layout.Offset(layer, 0, kv_head_begin);
  const int64_t v_begin = layout.Offset(layer, 1, kv_head_begin);
  const int64_t range_floats = int64_t{num_kv} * head_dim;
  const __m256 vscale = _mm256_set1_ps(scale);
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const int nq = static_cast<int>(queries.size());
  int64_t max_keys = 0;
  for (const AttentionQuery& aq : queries) max_keys = std::max(max_keys, aq.num_keys);

  // Running state per (query, head): max m, denominator l, numerator acc[head_dim].
  thread_local std::vector<float> state;
  const int64_t heads = int64_t{nq} * num_kv * group;
  state.resize(heads * (head_dim + 2) + 8);
  float* acc = state.data();
  float* m = acc + heads * head_dim;
  float* l = m + heads;
  for (int64_t i = 0; i < heads; ++i) {
    m[i] = kNegInf;
    l[i] = 0.0f;
  }
  std::fill(acc, acc + heads * head_dim, 0.0f);

  KvCursor cursor(kv, layout.TokenFloats());
  // Token pointers of the current chunk and the next one (prefetched one chunk ahead: the
  // K/V of consecutive tokens are TokenFloats apart, a stride hardware prefetchers miss).
  const float* cur[kAttentionChunk];
  const float* next[kAttentionChunk];
  auto fill = [&](int64_t c0, const float** tokens) {
    const int n = static_cast<int>(std::min<int64_t>(kAttentionChunk, max_keys - c0));
    for (int j = 0; j < n; ++j) tokens[j] = cursor.Next();
    // Pad with the last key: padded lanes are computed and then ignored.
    for (int j = n; j < kAttentionChunk; ++j) tokens[j] = tokens[n - 1];
    return n;
  };
  int n_next = fill(0, next);
  PrefetchCursor prefetch;
  for (int64_t c0 = 0; c0 < max_keys; c0 += kAttentionChunk) {
    std::copy(next, next + kAttentionChunk, cur);
    if (c0 + kAttentionChunk < max_keys) {
      n_next = fill(c0 + kAttentionChunk, next);
      prefetch.Reset(next, n_next, k_begin, v_begin, range_floats,
                     /*steps=*/int64_t{num_kv} * group * kAttentionChunk);
    }
    for (int r = 0; r < num_kv; ++r) {
      const int64_t k_off = k_begin + int64_t{r} * head_dim;
      const int64_t v_off = v_begin + int64_t{r} * head_dim;
      const float* keys[kAttentionChunk];
      for (int j = 0; j < kAttentionChunk; ++j) keys[j] = cur[j] + k_off;
      for (int qi = 0; qi < nq; ++qi) {
        if (c0 >= queries[qi].num_keys) continue;
        // Everything below depends only on this query, its key count and the chunk's K/V.
        const int n = static_cast<int>(std::min<int64_t>(kAttentionChunk, queries[qi].num_keys - c0));
        const int vecs = (n + 7) / 8;
        for (int g = 0; g < group; ++g) {
          const int64_t h = (int64_t{qi} * num_kv + r) * group + g;
          const float* qh = queries[qi].q + (int64_t{r} * group + g) * head_dim;
          alignas(32) float s[kAttentionChunk] = {};
          for (int b = 0; b < vecs; ++b) {
            _mm256_store_ps(s + 8 * b, Scores8(qh, keys + 8 * b, head_dim, vscale));
          }
          float chunk_max = s[0];
          for (int j = 1; j < n; ++j) chunk_max = std::max(chunk_max, s[j]);
          const float new_max = std::max(m[h], chunk_max);
          alignas(32) float p[kAttentionChunk];
          const __m256 vmax = _mm256_set1_ps(new_max);
          for (int b = 0; b < vecs; ++b) {
            _mm256_store_ps(p + 8 * b, Exp8(_mm256_sub_ps(_mm256_load_ps(s + 8 * b), vmax)));
          }
          const float correction =
              _mm256_cvtss_f32(Exp8(_mm256_set1_ps(m[h] - new_max)));  // exp(-inf) = 0
          m[h] = new_max;
          float sum = 0.0f;
          for (int j = 0; j < n; ++j) sum += p[j];
          l[h] = l[h] * correction + sum;
          // acc = acc * correction + sum_j p[j] v[j], j in order; 64 floats (8 independent FMA
          // chains) at a time.
          float* a = acc + h * head_dim;
          const __m256 vc = _mm256_set1_ps(correction);
          for (int d0 = 0; d0 < head_dim; d0 += 64) {
            const int nv = std::min(8, (head_dim - d0) / 8);
            __m256 av[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) {
              av[i] = i < nv ? _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 8 * i), vc) : _mm256_setzero_ps();
            }
            for (int j = 0; j < n; ++j) {
              prefetch.Step();
              const __m256 pj = _mm256_set1_ps(p[j]);
              const float* v = cur[j] + v_off + d0;
#pragma GCC unroll 8
              for (int i = 0; i < 8; ++i) {
                if (i < nv) av[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * i), av[i]);
              }
            }
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) {
              if (i < nv) _mm256_storeu_ps(a + d0 + 8 * i, av[i]);
            }
          }
        }
      }
    }
    prefetch.Finish();
  }
  for (int qi = 0; qi < nq; ++qi) {
    for (int g = 0; g < num_kv * group; ++g) {
      const int64_t h = int64_t{qi} * num_kv * group + g;
      const __m256 inv = _mm256_set1_ps(1.0f / l[h]);
      float* o = queries[qi].out + int64_t{g} * head_dim;
      for (int d = 0; d < head_dim; d += 8) {
        _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(acc + h * head_dim + d), inv));
      }
    }
  }
}

void AttendGroup(const KvLayout& layout, int layer, int kv_head, int group, const float* q,
                 int64_t num_keys, const KvSource& kv, float scale, float* out) {
  const AttentionQuery query{q, num_keys, out};
  AttendBlock(layout, layer, kv_head, kv_head + 1, group, absl::MakeConstSpan(&query, 1), kv,
              scale);
}

}  // namespace pdserve::decoder::internal
