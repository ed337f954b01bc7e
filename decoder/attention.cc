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

// Query heads handled together per pass over a chunk's K/V rows: each K and V vector loaded
// from cache serves this many heads (3 x 4 accumulators plus operands fill the 16 registers).
constexpr int kHeadTile = 3;

// scores[g][j] = dot(q[g], keys[j]) * scale for GT heads and the keys [0, 8 * vecs). Every score
// is the same lane-wise FMA chain over head_dim and the same Reduce8 tree, whatever GT is.
template <int GT>
void ScoresTile(const float* const q[GT], const float* const keys[kAttentionChunk], int vecs,
                int head_dim, __m256 scale, float scores[][kAttentionChunk]) {
  alignas(32) float lanes[GT][kAttentionChunk][8];
  for (int j0 = 0; j0 < 8 * vecs; j0 += 4) {
    __m256 acc[GT][4];
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[g][j] = _mm256_setzero_ps();
    }
    for (int d = 0; d < head_dim; d += 8) {
      __m256 qv[GT];
#pragma GCC unroll 4
      for (int g = 0; g < GT; ++g) qv[g] = _mm256_loadu_ps(q[g] + d);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m256 kv = _mm256_loadu_ps(keys[j0 + j] + d);
#pragma GCC unroll 4
        for (int g = 0; g < GT; ++g) acc[g][j] = _mm256_fmadd_ps(qv[g], kv, acc[g][j]);
      }
    }
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) _mm256_store_ps(lanes[g][j0 + j], acc[g][j]);
    }
  }
  for (int g = 0; g < GT; ++g) {
    for (int b = 0; b < vecs; ++b) {
      __m256 v[8];
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) v[j] = _mm256_load_ps(lanes[g][8 * b + j]);
      _mm256_storeu_ps(scores[g] + 8 * b, _mm256_mul_ps(Reduce8(v), scale));
    }
  }
}

// out[g] = out[g] * correction[g] + sum_j p[g][j] * v[j] for GT heads, j in order: the same
// per-element FMA chain as one head at a time, with each V vector loaded once for all GT.
template <int GT>
void AccumulateTile(float* const out[GT], const float correction[GT],
                    const float p[][kAttentionChunk], const float* const values[kAttentionChunk],
                    int n, int head_dim) {
  for (int d0 = 0; d0 < head_dim; d0 += 32) {
    const int nv = std::min(4, (head_dim - d0) / 8);
    __m256 av[GT][4];
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
      const __m256 vc = _mm256_set1_ps(correction[g]);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        av[g][i] = i < nv ? _mm256_mul_ps(_mm256_loadu_ps(out[g] + d0 + 8 * i), vc)
                          : _mm256_setzero_ps();
      }
    }
    for (int j = 0; j < n; ++j) {
      __m256 pj[GT];
#pragma GCC unroll 4
      for (int g = 0; g < GT; ++g) pj[g] = _mm256_set1_ps(p[g][j]);
      const float* v = values[j] + d0;
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        if (i < nv) {
          const __m256 vv = _mm256_loadu_ps(v + 8 * i);
#pragma GCC unroll 4
          for (int g = 0; g < GT; ++g) av[g][i] = _mm256_fmadd_ps(pj[g], vv, av[g][i]);
        }
      }
    }
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        if (i < nv) _mm256_storeu_ps(out[g] + d0 + 8 * i, av[g][i]);
      }
    }
  }
}

}  // namespace

void AttendBlock(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end, int group,
                 absl::Span<const AttentionQuery> queries, const KvSource& kv, float scale) {
  const int head_dim = layout.head_dim;
  const int num_kv = kv_head_end - kv_head_begin;
  // K (and V) of the kv heads in range are contiguous within a token.
  const int64_t k_begin = layout.Offset(layer, 0, kv_head_begin);
  const int64_t v_begin = layout.Offset(layer, 1, kv_head_begin);
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
  // Token pointers of the current chunk. No software prefetch: on huge pages the hardware
  // prefetchers keep up (prefetching one or two chunks ahead, into L1 or L2, measured 5-9%
  // slower at ctx 4096: the prefetch instructions cost more than they hid).
  const float* cur[kAttentionChunk];
  for (int64_t c0 = 0; c0 < max_keys; c0 += kAttentionChunk) {
    const int n_cur = static_cast<int>(std::min<int64_t>(kAttentionChunk, max_keys - c0));
    for (int j = 0; j < n_cur; ++j) cur[j] = cursor.Next();
    // Pad with the last key: padded lanes are computed and then ignored.
    for (int j = n_cur; j < kAttentionChunk; ++j) cur[j] = cur[n_cur - 1];
    for (int r = 0; r < num_kv; ++r) {
      const int64_t k_off = k_begin + int64_t{r} * head_dim;
      const int64_t v_off = v_begin + int64_t{r} * head_dim;
      const float* keys[kAttentionChunk];
      const float* values[kAttentionChunk];
      for (int j = 0; j < kAttentionChunk; ++j) {
        keys[j] = cur[j] + k_off;
        values[j] = cur[j] + v_off;
      }
      for (int qi = 0; qi < nq; ++qi) {
        if (c0 >= queries[qi].num_keys) continue;
        // Everything below depends only on this query, its key count and the chunk's K/V.
        const int n = static_cast<int>(std::min<int64_t>(kAttentionChunk, queries[qi].num_keys - c0));
        const int vecs = (n + 7) / 8;
        for (int g0 = 0; g0 < group; g0 += kHeadTile) {
          const int gt = std::min(kHeadTile, group - g0);
          const int64_t h0 = (int64_t{qi} * num_kv + r) * group + g0;
          const float* qh[kHeadTile];
          float* out[kHeadTile];
          for (int g = 0; g < gt; ++g) {
            qh[g] = queries[qi].q + (int64_t{r} * group + g0 + g) * head_dim;
            out[g] = acc + (h0 + g) * head_dim;
          }
          alignas(32) float s[kHeadTile][kAttentionChunk];
          switch (gt) {
            case 1: ScoresTile<1>(qh, keys, vecs, head_dim, vscale, s); break;
            case 2: ScoresTile<2>(qh, keys, vecs, head_dim, vscale, s); break;
            default: ScoresTile<3>(qh, keys, vecs, head_dim, vscale, s); break;
          }
          alignas(32) float p[kHeadTile][kAttentionChunk];
          float correction[kHeadTile];
          for (int g = 0; g < gt; ++g) {
            const int64_t h = h0 + g;
            float chunk_max = s[g][0];
            for (int j = 1; j < n; ++j) chunk_max = std::max(chunk_max, s[g][j]);
            const float new_max = std::max(m[h], chunk_max);
            const __m256 vmax = _mm256_set1_ps(new_max);
            for (int b = 0; b < vecs; ++b) {
              _mm256_store_ps(p[g] + 8 * b,
                              Exp8(_mm256_sub_ps(_mm256_load_ps(s[g] + 8 * b), vmax)));
            }
            correction[g] = _mm256_cvtss_f32(Exp8(_mm256_set1_ps(m[h] - new_max)));  // exp(-inf) = 0
            m[h] = new_max;
            float sum = 0.0f;
            for (int j = 0; j < n; ++j) sum += p[g][j];
            l[h] = l[h] * correction[g] + sum;
          }
          switch (gt) {
            case 1: AccumulateTile<1>(out, correction, p, values, n, head_dim); break;
            case 2: AccumulateTile<2>(out, correction, p, values, n, head_dim); break;
            default: AccumulateTile<3>(out, correction, p, values, n, head_dim); break;
          }
        }
      }
    }
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
