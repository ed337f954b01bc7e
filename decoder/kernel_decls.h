// Declarations of one kernel family's functions (see kernels.h for their contracts), for the
// family's kernel files and its table. Included only by *_kernels.cc.
#ifndef PDSERVE_DECODER_KERNEL_DECLS_H_
#define PDSERVE_DECODER_KERNEL_DECLS_H_

#include "decoder/kernels.h"
#include "decoder/simd.h"

PDSERVE_KERNEL_BEGIN
namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);
void AddInPlace(const float* src, int64_t n, float* dst);
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);
void Exp(const float* x, int64_t n, float* out);
void MatMulPanels(const PackedLinear& w, const float* x, int64_t m, int64_t ldx, float* y,
                  int64_t ldy, int64_t p0, int64_t p1);
void AttendSegment(const KvLayout& layout, int layer, int kv_head_begin, int kv_head_end,
                   int group, absl::Span<const AttentionQuery> queries, const KvSource& kv,
                   float scale, int64_t segment, float* state);
void MergeState(float* running, const float* segment, int64_t heads, int head_dim);
void WriteOutputs(const float* state, int heads_per_query, int head_dim,
                  absl::Span<const AttentionQuery> queries);

// This family's table (kernel_table.cc).
const KernelTable& Table();

}  // namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS
PDSERVE_KERNEL_END

#endif  // PDSERVE_DECODER_KERNEL_DECLS_H_
