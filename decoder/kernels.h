// The decoder's compute kernels as a table of functions, one table per kernel family
// (base/kernel_family.h), and the table this process uses. The kernel files (*_kernels.cc) are
// compiled once per family; the functions in ops.h, linear.h and attention.h call through
// Kernels(), so callers never name a family.
#ifndef PDSERVE_DECODER_KERNELS_H_
#define PDSERVE_DECODER_KERNELS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "base/kernel_family.h"
#include "decoder/attention.h"
#include "decoder/linear.h"

namespace pdserve::decoder::internal {

// Each entry's contract is that of the public function of the same name (ops.h, linear.h,
// attention.h); merge_state and write_outputs are the two halves of FinishSegments.
struct KernelTable {
  KernelFamily family;
  void (*rms_norm)(const float* x, const float* weight, int64_t n, float eps, float* out);
  void (*add_in_place)(const float* src, int64_t n, float* dst);
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out);
  void (*exp)(const float* x, int64_t n, float* out);
  // MatMul for output panels [p0, p1) on the calling thread.
  void (*matmul_panels)(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y,
                        int64_t ldy, int64_t p0, int64_t p1);
  void (*attend_segment)(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end,
                         int group, absl::Span<const AttentionQuery> queries, const KvSource& kv,
                         float scale, int64_t segment, float* state);
  // running = running (+) segment, for `heads` softmax states of head_dim.
  void (*merge_state)(float* running, const float* segment, int64_t heads, int head_dim);
  // queries[q].out[g] = acc / l of state head q * heads_per_query + g.
  void (*write_outputs)(const float* state, int heads_per_query, int head_dim,
                        absl::Span<const AttentionQuery> queries);
};

// The table of ProcessKernelFamily(). Aborts with the reason if that family cannot be had (a
// server checks InitKernels() at start-up first, so only a test or tool can get there).
const KernelTable& Kernels();

// OK if ProcessKernelFamily() resolved; else its error. Call once at start-up.
absl::Status InitKernels();

// The table of `family`, or nullptr if it is not available here (benchmarks and tests that
// compare families).
const KernelTable* KernelTableFor(KernelFamily family);

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_KERNELS_H_
