// Register-blocked, k-sequential matmul kernels (AVX2 + FMA).
#include "decoder/linear.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "decoder/status_macros.h"

namespace pdserve::decoder::internal {
namespace {

constexpr int kPanel = PackedLinear::kPanel;
constexpr int kMaxRows = 6;     // rows per register block
constexpr int64_t kRowChunk = 96;  // rows whose x stays cache-resident while panels stream by

// Computes rows [0, MR) x panels [0, NP) of y. `cols` is how many of the NP * kPanel outputs are
// real (the last panel of a matrix may be padding). Each accumulator starts at zero and takes one
// FMA per k, in k order: the value never depends on MR or NP.
template <int MR, int NP>
void Kernel(const float* x, int64_t ldx, const float* w, int64_t panel_stride, int64_t k,
            float* y, int64_t ldy, int cols) {
  __m256 acc[MR][NP * 2];
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < NP * 2; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    __m256 b[NP * 2];
    for (int p = 0; p < NP; ++p) {
      b[2 * p] = _mm256_load_ps(w + p * panel_stride + kk * kPanel);
      b[2 * p + 1] = _mm256_load_ps(w + p * panel_stride + kk * kPanel + 8);
    }
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + kk);
      for (int j = 0; j < NP * 2; ++j) acc[r][j] = _mm256_fmadd_ps(a, b[j], acc[r][j]);
    }
  }
  if (cols == NP * kPanel) {
    for (int r = 0; r < MR; ++r) {
      for (int j = 0; j < NP * 2; ++j) _mm256_storeu_ps(y + r * ldy + j * 8, acc[r][j]);
    }
  } else {
    alignas(32) float tmp[NP * kPanel];
    for (int r = 0; r < MR; ++r) {
      for (int j = 0; j < NP * 2; ++j) _mm256_store_ps(tmp + j * 8, acc[r][j]);
      std::memcpy(y + r * ldy, tmp, cols * sizeof(float));
    }
  }
}

using KernelFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t,
                          int);

// Panels per kernel call for a block of `rows` rows: as many as fit in ~12 accumulators.
constexpr int WidePanels(int rows) { return rows == 1 ? 4 : rows == 2 ? 3 : rows == 3 ? 2 : 1; }

template <int MR>
KernelFn Pick(bool wide) {
  return wide ? &Kernel<MR, WidePanels(MR)> : &Kernel<MR, 1>;
}

KernelFn PickKernel(int rows, bool wide) {
  switch (rows) {
    case 1: return Pick<1>(wide);
    case 2: return Pick<2>(wide);
    case 3: return Pick<3>(wide);
    case 4: return Pick<4>(wide);
    case 5: return Pick<5>(wide);
    default: return Pick<6>(wide);
  }
}

// Computes y for panels [p0, p1) and all m rows. Loop order: row chunk, panel group, row block,
// so a group's panels are reused from cache by every row block of the chunk.
void MatMulPanels(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y,
                  int64_t ldy, int64_t p0, int64_t p1) {
  constexpr int64_t kGroup = 12;  // divisible by every WidePanels() value
  const int64_t k = w.in_features();
  const int64_t n = w.out_features();
  const int64_t stride = k * kPanel;
  for (int64_t r0 = 0; r0 < m; r0 += kRowChunk) {
    const int64_t r1 = std::min(m, r0 + kRowChunk);
    for (int64_t g0 = p0; g0 < p1; g0 += kGroup) {
      const int64_t g1 = std::min(p1, g0 + kGroup);
      for (int64_t r = r0; r < r1; r += kMaxRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxRows, r1 - r));
        const int np = WidePanels(rows);
        for (int64_t p = g0; p < g1;) {
          const bool wide = p + np <= g1;
          const int step = wide ? np : 1;
          const int64_t col0 = p * kPanel;
          const int cols = static_cast<int>(std::min<int64_t>(step * kPanel, n - col0));
          PickKernel(rows, wide)(x + r * ldx, ldx, w.panel(p), stride, k, y + r * ldy + col0, ldy,
                                 cols);
          p += step;
        }
      }
    }
  }
}

}  // namespace

PackedLinear::PackedLinear(absl::Span<const float> row_major, int64_t out_features,
                           int64_t in_features)
    : n_(out_features), k_(in_features), data_(num_panels() * in_features * kPanel) {
  PDSERVE_CHECK(static_cast<int64_t>(row_major.size()) == out_features * in_features);
  for (int64_t p = 0; p < num_panels(); ++p) {
    float* dst = data_.data() + p * k_ * kPanel;
    for (int64_t j = 0; j < kPanel; ++j) {
      const int64_t row = p * kPanel + j;
      if (row >= n_) break;
      const float* src = row_major.data() + row * k_;
      for (int64_t kk = 0; kk < k_; ++kk) dst[kk * kPanel + j] = src[kk];
    }
  }
}

void MatMul(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
            ThreadPool* pool) {
  if (m == 0) return;
  const int64_t panels = w.num_panels();
  auto run = [&](int index, int count) {
    int64_t p0, p1;
    // Align thread boundaries to 4 panels so the wide decode kernel is used throughout.
    SplitRange(panels, index, count, 4, &p0, &p1);
    if (p0 < p1) MatMulPanels(w, x, m, ldx, y, ldy, p0, p1);
  };
  if (pool == nullptr || panels < 8) {
    run(0, 1);
  } else {
    pool->Run(run);
  }
}

}  // namespace pdserve::decoder::internal
