// Token sampling: greedy, temperature, top-k, top-p, reproducible from a per-request seed.
#ifndef PDSERVE_DECODER_SAMPLER_H_
#define PDSERVE_DECODER_SAMPLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace pdserve::decoder {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy (argmax, lowest id on ties)
  int top_k = 0;             // 0: off; else keep the k most likely tokens
  float top_p = 1.0f;        // keep the smallest most-likely set with mass >= top_p
  uint64_t seed = 0;
};

// INVALID_ARGUMENT naming the field: temperature < 0 (or NaN), top_k < 0, top_p outside (0, 1].
absl::Status Validate(const SamplingParams& params);

// Draws tokens from logits. The draw for generation step `step` depends only on (seed, step,
// logits): any process can sample any step of a sequence and get the same token, on any machine
// (own splitmix64 uniform; candidates ordered by (logit desc, id asc)).
// Thread-compatible (the step counter of the convenience overload is mutable state).
class Sampler {
 public:
  // REQUIRES: Validate(params).ok().
  explicit Sampler(const SamplingParams& params) : params_(params) {}

  // Samples for an explicit generation step (0 = first generated token).
  // REQUIRES: !logits.empty().
  int32_t SampleAt(absl::Span<const float> logits, uint64_t step) const;
  // Samples for the next step (0, 1, 2, ... over successive calls).
  int32_t Sample(absl::Span<const float> logits) { return SampleAt(logits, next_step_++); }

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  uint64_t next_step_ = 0;
};

// The uniform in [0, 1) that Sampler uses for (seed, step); exposed for tests.
double UniformForTest(uint64_t seed, uint64_t step);

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_SAMPLER_H_
