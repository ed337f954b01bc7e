// Register-blocked, k-sequential matmul kernels of one kernel family (see kernel_target.h).
#include <algorithm>
#include <cstring>
#include <vector>

#include "decoder/kernel_decls.h"

PDSERVE_KERNEL_BEGIN
namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS {
namespace {

constexpr int kPanel = PackedLinear::kPanel;
constexpr int kMaxRows = 6;     // rows per register block (decode)
// Rows per register block of the prefill path: 6 rows x 2 vectors take 12 of AVX2's 16
// registers; with AVX-512's one register per panel row and 32 registers, 12 rows take 12.
constexpr int kBlockedRows = kPanelVecs == 1 ? 12 : kMaxRows;
constexpr int64_t kRowChunk = 96;  // rows whose x stays cache-resident while panels stream by
// From this many rows on, pack x and block over k (prefill); below it, panel groups stay in L2
// while every row block uses them (decode batches; measured faster up to 32 rows, slower at 40).
constexpr int64_t kBlockedMinRows = 40;
constexpr int64_t kPrefetchK = 16;  // k steps (64-byte lines) ahead; reads past a panel's end are
                                    // harmless prefetches

// Computes rows [0, MR) x panels [0, NP) of y over inner indices [0, k). x element (r, kk) is
// at x[r * xr + kk * xk]. `cols` is how many of the NP * kPanel outputs are real (the last panel
// of a matrix may be padding). Each accumulator starts at zero (or, with kLoad, at the partial
// sum an earlier call stored in y) and takes one FMA per k, in k order: the bits never depend on
// MR, NP, or where the k range was split. Meanwhile it pulls `next_lines` (<= k) consecutive
// 64-byte lines from `next` into L2, spread evenly over the k steps.
template <int MR, int NP, bool kLoad, bool kPrefetch = false>
void Kernel(const float* x, int64_t xr, int64_t xk, const float* w, int64_t panel_stride,
            int64_t k, float* y, int64_t ldy, int cols, const float* next, int64_t next_lines) {
  PV acc[MR][NP * kPanelVecs];
  alignas(64) float tmp[NP * kPanel];
  const bool full = cols == NP * kPanel;
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    if (kLoad) {
      const float* src = y + r * ldy;
      if (!full) {
        std::memcpy(tmp, src, cols * sizeof(float));
        src = tmp;
      }
      #pragma GCC unroll 12
      for (int j = 0; j < NP * kPanelVecs; ++j) acc[r][j] = LoadPV(src + j * kPVFloats);
    } else {
      #pragma GCC unroll 12
      for (int j = 0; j < NP * kPanelVecs; ++j) acc[r][j] = ZeroPV();
    }
  }
  int64_t next_credit = 0;
  for (int64_t kk = 0; kk < k; ++kk) {
    if (kPrefetch) {
      // Weights stream from DRAM once (decode): fetch ahead in each panel's stream.
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) {
        PrefetchNear(w + p * panel_stride + (kk + kPrefetchK) * kPanel);
      }
    }
    // Weights the caller needs next: one line every k / next_lines steps.
    next_credit += next_lines;
    if (next_credit >= k) {
      next_credit -= k;
      PrefetchFar(next);
      next += 16;
    }
    PV b[NP * kPanelVecs];
    #pragma GCC unroll 12
    for (int p = 0; p < NP; ++p) {
      #pragma GCC unroll 2
      for (int v = 0; v < kPanelVecs; ++v) {
        b[kPanelVecs * p + v] = LoadAlignedPV(w + p * panel_stride + kk * kPanel + v * kPVFloats);
      }
    }
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const PV a = SetPV(x[r * xr + kk * xk]);
      #pragma GCC unroll 12
      for (int j = 0; j < NP * kPanelVecs; ++j) acc[r][j] = FmaPV(a, b[j], acc[r][j]);
    }
  }
  if (full) {
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      #pragma GCC unroll 12
      for (int j = 0; j < NP * kPanelVecs; ++j) StorePV(y + r * ldy + j * kPVFloats, acc[r][j]);
    }
  } else {
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      #pragma GCC unroll 12
      for (int j = 0; j < NP * kPanelVecs; ++j) StoreAlignedPV(tmp + j * kPVFloats, acc[r][j]);
      std::memcpy(y + r * ldy, tmp, cols * sizeof(float));
    }
  }
}

using KernelFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*,
                          int64_t, int, const float*, int64_t);

// Panels per kernel call for a block of `rows` rows: as many as fit in ~12 accumulator
// registers (each a divisor of 12, the panel group size).
constexpr int WidePanels(int rows) {
  if (kPanelVecs == 1) return rows <= 3 ? 4 : rows == 4 ? 3 : 2;
  return rows == 1 ? 4 : rows == 2 ? 3 : rows == 3 ? 2 : 1;
}

template <int MR>
KernelFn Pick(bool wide, bool load) {
  if (load) return &Kernel<MR, 1, true>;
  return wide ? &Kernel<MR, WidePanels(MR), false, true> : &Kernel<MR, 1, false, true>;
}

// REQUIRES: !(wide && load).
KernelFn PickKernel(int rows, bool wide, bool load) {
  switch (rows) {
    case 1: return Pick<1>(wide, load);
    case 2: return Pick<2>(wide, load);
    case 3: return Pick<3>(wide, load);
    case 4: return Pick<4>(wide, load);
    case 5: return Pick<5>(wide, load);
    default: return Pick<6>(wide, load);
  }
}

// The prefill path's kernel for `rows` <= kBlockedRows rows, one panel per call.
KernelFn PickBlockedKernel(int rows, bool load) {
  if constexpr (kBlockedRows > kMaxRows) {
    switch (rows) {
      case 7: return load ? &Kernel<7, 1, true> : &Kernel<7, 1, false, true>;
      case 8: return load ? &Kernel<8, 1, true> : &Kernel<8, 1, false, true>;
      case 9: return load ? &Kernel<9, 1, true> : &Kernel<9, 1, false, true>;
      case 10: return load ? &Kernel<10, 1, true> : &Kernel<10, 1, false, true>;
      case 11: return load ? &Kernel<11, 1, true> : &Kernel<11, 1, false, true>;
      case 12: return load ? &Kernel<12, 1, true> : &Kernel<12, 1, false, true>;
      default: break;
    }
  }
  return PickKernel(rows, false, load);
}

// Computes y for panels [p0, p1) and all m rows, for many rows (prefill): BLIS-style blocking.
// Rows are taken kBlockRows at a time and the inner dimension kInnerBlock at a time; that row
// chunk of x is packed into [block][k][kBlockedRows] micro-panels (cache-resident), and each panel's
// k-slice (kInnerBlock x 16 floats, L1-resident) is applied to every row block before moving on.
// Partial sums round-trip through y exactly, so the k order and the bits are unchanged.
void MatMulPanelsBlocked(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y,
                         int64_t ldy, int64_t p0, int64_t p1) {
  constexpr int64_t kBlockRows = 144;
  constexpr int64_t kInnerBlock = 256;
  const int64_t k = w.in_features();
  const int64_t n = w.out_features();
  const int64_t stride = k * kPanel;
  thread_local std::vector<float> packed;
  packed.resize(kBlockRows * kInnerBlock);
  for (int64_t r0 = 0; r0 < m; r0 += kBlockRows) {
    const int64_t r1 = std::min(m, r0 + kBlockRows);
    for (int64_t k0 = 0; k0 < k; k0 += kInnerBlock) {
      const int64_t kc = std::min(kInnerBlock, k - k0);
      for (int64_t r = r0; r < r1; r += kBlockedRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kBlockedRows, r1 - r));
        float* dst = packed.data() + (r - r0) * kc;
        for (int64_t kk = 0; kk < kc; ++kk) {
          for (int i = 0; i < rows; ++i) dst[kk * kBlockedRows + i] = x[(r + i) * ldx + k0 + kk];
        }
      }
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t col0 = p * kPanel;
        const int cols = static_cast<int>(std::min<int64_t>(kPanel, n - col0));
        for (int64_t r = r0; r < r1; r += kBlockedRows) {
          const int rows = static_cast<int>(std::min<int64_t>(kBlockedRows, r1 - r));
          PickBlockedKernel(rows, k0 > 0)(packed.data() + (r - r0) * kc, 1, kBlockedRows,
                                          w.panel(p) + k0 * kPanel, stride, kc,
                                          y + r * ldy + col0, ldy, cols, nullptr, 0);
        }
      }
    }
  }
}

// Computes y for panels [p0, p1) and all m rows, for few rows (decode). Loop order: row chunk, panel group, row block,
// so a group's panels are reused from cache by every row block of the chunk.
void MatMulPanelsFewRows(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y,
                         int64_t ldy, int64_t p0, int64_t p1) {
  const int64_t k = w.in_features();
  // Panels per group: 12 (divisible by every WidePanels() value) for a single row block; with
  // several row blocks, as many as stay L2-resident (~256 KiB) while every block reuses them.
  const int64_t kGroup =
      m <= kMaxRows ? 12 : std::clamp<int64_t>((256 << 10) / (k * kPanel * 4), 1, 12);
  const int64_t n = w.out_features();
  const int64_t stride = k * kPanel;
  for (int64_t r0 = 0; r0 < m; r0 += kRowChunk) {
    const int64_t r1 = std::min(m, r0 + kRowChunk);
    // Row blocks of near-equal size (16 rows: 5 + 5 + 6, not 6 + 6 + 4): a 4-row block keeps
    // only 8 FMA chains in flight and costs a third more per row than a 6-row one.
    const int64_t blocks = (r1 - r0 + kMaxRows - 1) / kMaxRows;
    auto RowsOf = [&](int64_t b) {
      return static_cast<int>((r1 - r0) * (b + 1) / blocks - (r1 - r0) * b / blocks);
    };
    for (int64_t g0 = p0; g0 < p1; g0 += kGroup) {
      const int64_t g1 = std::min(p1, g0 + kGroup);
      const int64_t next_end = std::min(p1, g1 + kGroup);
      // The next group's panels are one contiguous range. With several row blocks the group is
      // compute-bound, so every kernel call pulls an equal share of the next group into L2
      // while it computes, and no row block waits on DRAM (one burst per call, or prefetching
      // only during some blocks, left the first block of each group memory-bound).
      int64_t calls = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t np = WidePanels(RowsOf(b));
        calls += (g1 - g0) / np + (g1 - g0) % np;
      }
      const int64_t next_total = r1 - r0 > kMaxRows ? (next_end - g1) * k : 0;  // lines
      const int64_t share = std::min(k, (next_total + calls - 1) / calls);
      int64_t issued = 0;
      for (int64_t b = 0, r = r0; b < blocks; r += RowsOf(b), ++b) {
        const int rows = RowsOf(b);
        const int np = WidePanels(rows);
        for (int64_t p = g0; p < g1;) {
          const bool wide = p + np <= g1;
          const int step = wide ? np : 1;
          const int64_t col0 = p * kPanel;
          const int cols = static_cast<int>(std::min<int64_t>(step * kPanel, n - col0));
          const int64_t lines = std::min(share, next_total - issued);
          const float* next = lines > 0 ? w.panel(g1) + issued * kPanel : nullptr;
          PickKernel(rows, wide, false)(x + r * ldx, ldx, 1, w.panel(p), stride, k,
                                        y + r * ldy + col0, ldy, cols, next, lines);
          issued += lines;
          p += step;
        }
      }
    }
  }
}

}  // namespace

void MatMulPanels(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y,
                  int64_t ldy, int64_t p0, int64_t p1) {
  if (m >= kBlockedMinRows) {
    MatMulPanelsBlocked(w, x, m, ldx, y, ldy, p0, p1);
  } else {
    MatMulPanelsFewRows(w, x, m, ldx, y, ldy, p0, p1);
  }
}

}  // namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS
PDSERVE_KERNEL_END
