// Chunked online-softmax attention of one kernel family (see kernel_target.h), reading K/V in
// place from spans.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "decoder/kernel_decls.h"

PDSERVE_KERNEL_BEGIN
namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS {
namespace {

// Where one token's K/V of one layer lives: key of kv head h at base + h * head_stride, value
// at base + kv_stride + h * head_stride.
struct TokenKv {
  const float* base;
  int64_t head_stride;
  int64_t kv_stride;
};

// Walks the positions of a KvSource from `start` on, one layer's K/V of each token.
class KvCursor {
 public:
  KvCursor(const KvSource& kv, const KvLayout& layout, int layer, int64_t start)
      : kv_(kv), tail_{kv.tail, kv.tail_tokens}, layout_(layout), layer_(layer), offset_(start) {
    while (span_ < kv_.past.size() && offset_ >= kv_.past[span_].num_tokens) {
      offset_ -= kv_.past[span_].num_tokens;
      ++span_;
    }
    Aim();
  }

  TokenKv Next() {
    while (span_ < kv_.past.size() && offset_ >= kv_.past[span_].num_tokens) {
      ++span_;
      offset_ = 0;
      Aim();
    }
    return {base_ + (offset_++) * token_stride_, head_stride_, kv_stride_};
  }

 private:
  void Aim() {
    const KvSpan& s = span_ < kv_.past.size() ? kv_.past[span_] : tail_;
    base_ = s.Layer(layout_, layer_);
    token_stride_ = s.TokenStride(layout_);
    head_stride_ = s.HeadStride(layout_);
    kv_stride_ = s.KvStride(layout_);
  }

  const KvSource& kv_;
  const KvSpan tail_;  // token-major
  const KvLayout& layout_;
  int layer_;
  size_t span_ = 0;
  int64_t offset_;
  const float* base_ = nullptr;
  int64_t token_stride_ = 0, head_stride_ = 0, kv_stride_ = 0;
};

// The next key and value runs of a head-major block (each chunk_len * head_dim floats), pulled
// into L1 one line of each at a time from inside the current run's loops. Issued as one burst
// at the start of a run they stall the core once the miss buffers fill, so nothing overlaps;
// spread this way, the next run streams in while this one computes (ctx 4096: 10.1 -> 7.1 ms).
// Empty for token-major K/V, whose keys are short pieces far apart (prefetching them measured
// no faster).
class PrefetchQueue {
 public:
  PrefetchQueue() = default;
  PrefetchQueue(const float* keys, const float* values, int lines)
      : keys_(reinterpret_cast<const char*>(keys)),
        values_(reinterpret_cast<const char*>(values)),
        lines_(lines) {}
  void Issue2() {
    if (next_ < lines_) {
      PrefetchNear(keys_ + 64 * next_);
      PrefetchNear(values_ + 64 * next_);
      ++next_;
    }
  }
  void IssueRest() {
    while (next_ < lines_) Issue2();
  }

 private:
  const char* keys_ = nullptr;
  const char* values_ = nullptr;
  int lines_ = 0;
  int next_ = 0;
};

// Query heads handled together per pass over a chunk's K/V rows: each K and V vector loaded
// from cache serves this many heads (3 x 4 accumulators plus operands fill the 16 registers).
constexpr int kHeadTile = 3;

// scores[g][j] = dot(q[g], keys[j]) * scale for GT heads and the keys [0, 8 * vecs). Every score
// is the same lane-wise FMA chain over head_dim and the same Reduce8 tree, whatever GT is.
template <int GT>
void ScoresTile(const float* const q[GT], const float* const keys[kAttentionChunk], int vecs,
                int head_dim, F8 scale, float scores[][kAttentionChunk],
                PrefetchQueue& prefetch) {
  alignas(32) float lanes[GT][kAttentionChunk][8];
  for (int j0 = 0; j0 < 8 * vecs; j0 += 4) {
    F8 acc[GT][4];
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[g][j] = Zero8();
    }
    for (int d = 0; d < head_dim; d += 8) {
      prefetch.Issue2();
      F8 qv[GT];
#pragma GCC unroll 4
      for (int g = 0; g < GT; ++g) qv[g] = Load8(q[g] + d);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const F8 kv = Load8(keys[j0 + j] + d);
#pragma GCC unroll 4
        for (int g = 0; g < GT; ++g) acc[g][j] = Fma(qv[g], kv, acc[g][j]);
      }
    }
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) StoreAligned8(lanes[g][j0 + j], acc[g][j]);
    }
  }
  for (int g = 0; g < GT; ++g) {
    for (int b = 0; b < vecs; ++b) {
      F8 v[8];
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) v[j] = LoadAligned8(lanes[g][8 * b + j]);
      Store8(scores[g] + 8 * b, Mul(Reduce8(v), scale));
    }
  }
}

// out[g] = out[g] * correction[g] + sum_j p[g][j] * v[j] for GT heads, j in order: the same
// per-element FMA chain as one head at a time, with each V vector loaded once for all GT.
template <int GT>
void AccumulateTile(float* const out[GT], const float correction[GT],
                    const float p[][kAttentionChunk], const float* const values[kAttentionChunk],
                    int n, int head_dim, PrefetchQueue& prefetch) {
  for (int d0 = 0; d0 < head_dim; d0 += 32) {
    const int nv = std::min(4, (head_dim - d0) / 8);
    F8 av[GT][4];
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
      const F8 vc = Set8(correction[g]);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        av[g][i] = i < nv ? Mul(Load8(out[g] + d0 + 8 * i), vc) : Zero8();
      }
    }
    for (int j = 0; j < n; ++j) {
      prefetch.Issue2();
      F8 pj[GT];
#pragma GCC unroll 4
      for (int g = 0; g < GT; ++g) pj[g] = Set8(p[g][j]);
      const float* v = values[j] + d0;
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        if (i < nv) {
          const F8 vv = Load8(v + 8 * i);
#pragma GCC unroll 4
          for (int g = 0; g < GT; ++g) av[g][i] = Fma(pj[g], vv, av[g][i]);
        }
      }
    }
#pragma GCC unroll 4
    for (int g = 0; g < GT; ++g) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        if (i < nv) Store8(out[g] + d0 + 8 * i, av[g][i]);
      }
    }
  }
}

// Layout of a segment state for `heads` (query, head) pairs: acc[heads][head_dim], then m[heads],
// then l[heads].
struct StateView {
  float* acc;
  float* m;
  float* l;
  StateView(float* state, int64_t heads, int head_dim)
      : acc(state), m(state + heads * head_dim), l(state + heads * head_dim + heads) {}
};

}  // namespace

void AttendSegment(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end,
                   int group, absl::Span<const AttentionQuery> queries, const KvSource& kv,
                   float scale, int64_t segment, float* state) {
  const int head_dim = layout.head_dim;
  const int num_kv = kv_head_end - kv_head_begin;
  const F8 vscale = Set8(scale);
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const int nq = static_cast<int>(queries.size());
  const int64_t key_begin = segment * kAttentionSegment;
  int64_t key_end = key_begin;
  for (const AttentionQuery& aq : queries) {
    key_end = std::max(key_end, std::min(aq.num_keys, key_begin + kAttentionSegment));
  }

  const int64_t heads = int64_t{nq} * num_kv * group;
  const StateView st(state, heads, head_dim);
  float* acc = st.acc;
  float* m = st.m;
  float* l = st.l;
  std::fill(m, m + heads, kNegInf);
  std::fill(l, l + heads, 0.0f);
  std::fill(acc, acc + heads * head_dim, 0.0f);

  KvCursor cursor(kv, layout, layer, key_begin);
  // The current chunk's tokens, and the next chunk's (read one chunk ahead for prefetching).
  TokenKv buf_a[kAttentionChunk], buf_b[kAttentionChunk];
  TokenKv* cur = buf_a;
  TokenKv* nxt = buf_b;
  auto load = [&](int64_t c0, TokenKv* dst) {
    const int n = static_cast<int>(std::min<int64_t>(kAttentionChunk, key_end - c0));
    for (int j = 0; j < n; ++j) dst[j] = cursor.Next();
    // Pad with the last key: padded lanes are computed and then ignored.
    for (int j = n; j < kAttentionChunk; ++j) dst[j] = dst[n - 1];
    return n;
  };
  if (key_begin < key_end) load(key_begin, cur);
  for (int64_t c0 = key_begin; c0 < key_end; c0 += kAttentionChunk) {
    const int n_nxt = c0 + kAttentionChunk < key_end ? load(c0 + kAttentionChunk, nxt) : 0;
    for (int r = 0; r < num_kv; ++r) {
      // The next run: this chunk's next kv head, else the next chunk's first.
      PrefetchQueue prefetch;
      const bool same = r + 1 < num_kv;
      if (const TokenKv* src = same ? cur : (n_nxt > 0 ? nxt : nullptr);
          src != nullptr && src[0].head_stride == src[kAttentionChunk - 1].head_stride &&
          src[kAttentionChunk - 1].base == src[0].base + (kAttentionChunk - 1) * head_dim) {
        const float* k = src[0].base + (kv_head_begin + (same ? r + 1 : 0)) * src[0].head_stride;
        prefetch = PrefetchQueue(k, k + src[0].kv_stride, kAttentionChunk * head_dim * 4 / 64);
      }
      const float* keys[kAttentionChunk];
      const float* values[kAttentionChunk];
      for (int j = 0; j < kAttentionChunk; ++j) {
        keys[j] = cur[j].base + (kv_head_begin + r) * cur[j].head_stride;
        values[j] = keys[j] + cur[j].kv_stride;
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
            case 1: ScoresTile<1>(qh, keys, vecs, head_dim, vscale, s, prefetch); break;
            case 2: ScoresTile<2>(qh, keys, vecs, head_dim, vscale, s, prefetch); break;
            default: ScoresTile<3>(qh, keys, vecs, head_dim, vscale, s, prefetch); break;
          }
          alignas(32) float p[kHeadTile][kAttentionChunk];
          float correction[kHeadTile];
          // Softmax update per head, 8 keys per vector. Lanes past this query's n keys are
          // excluded from the max and get weight 0.
          const F8 lane = Iota8();
          const F8 neg_inf = Set8(kNegInf);
          const F8 valid[2] = {Less(lane, Set8(static_cast<float>(n))),
                               Less(lane, Set8(static_cast<float>(n - 8)))};
          for (int g = 0; g < gt; ++g) {
            const int64_t h = h0 + g;
            F8 vmax = Select(neg_inf, LoadAligned8(s[g]), valid[0]);
            if (vecs > 1) {
              vmax = Max(vmax, Select(neg_inf, LoadAligned8(s[g] + 8), valid[1]));
            }
            const float new_max = std::max(m[h], HorizontalMax(vmax));
            const F8 shift = Set8(new_max);
            F8 vsum = Zero8();
            for (int b = 0; b < vecs; ++b) {
              const F8 e = And(valid[b], Exp8(Sub(LoadAligned8(s[g] + 8 * b), shift)));
              StoreAligned8(p[g] + 8 * b, e);
              vsum = Add(vsum, e);
            }
            // exp(m - new_max); exp(-inf) = 0, and Exp8(0) is exactly 1, which most chunks of a
            // long context hit once the running max has settled.
            correction[g] = new_max == m[h] ? 1.0f : First(Exp8(Set8(m[h] - new_max)));
            m[h] = new_max;
            l[h] = l[h] * correction[g] + HorizontalSum(vsum);
          }
          switch (gt) {
            case 1: AccumulateTile<1>(out, correction, p, values, n, head_dim, prefetch); break;
            case 2: AccumulateTile<2>(out, correction, p, values, n, head_dim, prefetch); break;
            default: AccumulateTile<3>(out, correction, p, values, n, head_dim, prefetch); break;
          }
        }
      }
      prefetch.IssueRest();
    }
    std::swap(cur, nxt);
  }
}

// running = running (+) segment for every head, in place: the same arithmetic whether the
// segments are merged as they are computed (AttendBlock) or after the threads finish
// (FinishSegments). A head whose query has no keys in the segment (l == 0) is left alone.
void MergeState(float* running, const float* segment, int64_t heads, int head_dim) {
  const StateView r(running, heads, head_dim);
  const StateView s(const_cast<float*>(segment), heads, head_dim);
  for (int64_t h = 0; h < heads; ++h) {
    if (s.l[h] == 0.0f) continue;
    const float mn = std::max(r.m[h], s.m[h]);
    const float a = First(Exp8(Set8(r.m[h] - mn)));
    const float b = First(Exp8(Set8(s.m[h] - mn)));
    r.l[h] = r.l[h] * a + s.l[h] * b;
    r.m[h] = mn;
    const F8 va = Set8(a), vb = Set8(b);
    float* acc = r.acc + h * head_dim;
    const float* add = s.acc + h * head_dim;
    for (int d = 0; d < head_dim; d += 8) {
      Store8(acc + d, Fma(Load8(add + d), vb, Mul(Load8(acc + d), va)));
    }
  }
}

// Writes acc / l of every (query, head) to the queries' outputs.
void WriteOutputs(const float* state, int heads_per_query, int head_dim,
                  absl::Span<const AttentionQuery> queries) {
  const int64_t heads = static_cast<int64_t>(queries.size()) * heads_per_query;
  const StateView st(const_cast<float*>(state), heads, head_dim);
  for (size_t qi = 0; qi < queries.size(); ++qi) {
    for (int g = 0; g < heads_per_query; ++g) {
      const int64_t h = static_cast<int64_t>(qi) * heads_per_query + g;
      const F8 inv = Set8(1.0f / st.l[h]);
      float* o = queries[qi].out + int64_t{g} * head_dim;
      for (int d = 0; d < head_dim; d += 8) {
        Store8(o + d, Mul(Load8(st.acc + h * head_dim + d), inv));
      }
    }
  }
}

}  // namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS
PDSERVE_KERNEL_END
