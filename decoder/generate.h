// In-process reference generation: Prefill + batched DecodeStep over K/V kept in 16-token blocks,
// and a cache-free recomputation used to check it.
#ifndef PDSERVE_DECODER_GENERATE_H_
#define PDSERVE_DECODER_GENERATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "decoder/model.h"
#include "decoder/sampler.h"

namespace pdserve::decoder {

// When generation ends. A stop token is emitted (it is the last token) and ends generation.
struct StopCondition {
  int max_new_tokens = 16;
  std::vector<int32_t> stop_ids;

  bool IsStopToken(int32_t token) const;
};

enum class FinishReason {
  kStopToken,    // the last token is in stop_ids
  kLength,       // max_new_tokens reached
  kMaxPosition,  // the sequence reached max_position_embeddings
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated tokens, prompt excluded
  FinishReason finish_reason = FinishReason::kLength;
};

// Generates from `prompt` with the K/V cache: one Prefill, then one DecodeStep per further token,
// past K/V held in 16-token blocks. Token i is drawn with Sampler::SampleAt(logits, i).
// Errors: INVALID_ARGUMENT for bad params, an empty prompt, max_new_tokens < 0, or anything
// Prefill/DecodeStep reject.
absl::StatusOr<GenerationResult> Generate(const Model& model, absl::Span<const int32_t> prompt,
                                          const SamplingParams& params,
                                          const StopCondition& stop);

// Same contract, but every token's logits come from a Prefill of the whole sequence with no
// past (no cache). O(n^2); for tests.
absl::StatusOr<GenerationResult> GenerateByRecompute(const Model& model,
                                                     absl::Span<const int32_t> prompt,
                                                     const SamplingParams& params,
                                                     const StopCondition& stop);

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_GENERATE_H_
