// PackedLinear's repacking, and MatMul's split across threads (the kernels are in
// linear_kernels.cc).
#include "decoder/linear.h"

#include "decoder/kernels.h"
#include "decoder/status_macros.h"

namespace pdserve::decoder::internal {

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
    if (p0 >= p1) return;
    Kernels().matmul_panels(w, x, m, ldx, y, ldy, p0, p1);
  };
  if (pool == nullptr || panels < 8) {
    run(0, 1);
  } else {
    pool->Run(run);
  }
}

}  // namespace pdserve::decoder::internal
