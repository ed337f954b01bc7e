// Linear layers y = x W^T with a batch-invariant kernel: every output element is one sequential
// FMA chain over the inner dimension, whatever the batch size, tile or thread split.
#ifndef PDSERVE_DECODER_LINEAR_H_
#define PDSERVE_DECODER_LINEAR_H_

#include <cstdint>

#include "absl/types/span.h"
#include "decoder/aligned_buffer.h"
#include "decoder/thread_pool.h"

namespace pdserve::decoder::internal {

// A weight matrix of `out_features` x `in_features` (the HF/PyTorch layout), repacked k-major in
// panels of kPanel output features: panel p holds [in_features][kPanel] floats, outputs
// p*kPanel.., zero-padded past out_features. Immutable after construction.
class PackedLinear {
 public:
  static constexpr int kPanel = 16;

  PackedLinear() = default;
  // REQUIRES: row_major.size() == out_features * in_features (W[n][k] at n * in_features + k).
  PackedLinear(absl::Span<const float> row_major, int64_t out_features, int64_t in_features);

  int64_t out_features() const { return n_; }
  int64_t in_features() const { return k_; }
  int64_t num_panels() const { return (n_ + kPanel - 1) / kPanel; }
  const float* panel(int64_t p) const { return data_.data() + p * k_ * kPanel; }
  // Bytes of packed weights read by one MatMul (including padding).
  int64_t bytes() const { return num_panels() * k_ * kPanel * int64_t{sizeof(float)}; }

 private:
  int64_t n_ = 0;
  int64_t k_ = 0;
  AlignedBuffer data_;
};

// y[i][n] = sum_k x[i][k] * W[n][k] for i in [0, m), accumulated in order k = 0, 1, ... with one
// fused multiply-add per step from 0.0f. Result bits depend only on x's row and W.
// x: m rows of in_features floats, row stride ldx. y: m rows of out_features floats, stride ldy.
// Output features are split across `pool`'s threads (pool may be null: single thread).
void MatMul(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
            ThreadPool* pool);

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_LINEAR_H_
