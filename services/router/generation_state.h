// The bookkeeping of one generation as the router sees it: the prompt, the tokens sent to the
// client so far, the sequence in the cache manager, the merged hop report, and the downstream
// requests that continue the generation from exactly where it stands (also after a failure).
#ifndef PDSERVE_SERVICES_ROUTER_GENERATION_STATE_H_
#define PDSERVE_SERVICES_ROUTER_GENERATION_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/router/model_info.h"

namespace pdserve::router {

// Not thread-safe: owned by one GenerateCall, which serializes access.
//
// Positions: with P prompt tokens and g generated tokens sent, the sequence in the manager
// holds the K/V of the prompt and of the first g - 1 generated tokens (the newest token's K/V
// is appended by the decode step that consumes it), so its length is P + g - 1 and the next
// decode step feeds generated[g - 1] at that position with step_index g.
class GenerationState {
 public:
  // REQUIRES: `request` comes from PrepareGenerateRequest (token ids, valid limits).
  // `model` must outlive this object.
  GenerationState(const inference::v1::GenerateRequest& request, const ModelInfo* model,
                  absl::Time start);

  // The next prefill: the prompt when nothing was generated yet, else (resuming a lost
  // sequence) prompt + generated ids with resume_generated = g.
  inference::v1::PrefillRequest NextPrefillRequest() const;
  // Records a successful prefill (sequence, prompt length, report) and its first token, which
  // may finish the generation. Returns the client message for that token (with the final
  // fields when finished()).
  inference::v1::GenerateResponse OnPrefill(const inference::v1::PrefillResponse& response,
                                            absl::Time now);

  // The next decode call for the current sequence. REQUIRES: has_sequence() && !finished().
  inference::v1::DecodeRequest NextDecodeRequest() const;
  // Records one decode message. The generation finishes when the message says so, or when the
  // router's own check (stop token, eos, max_new_tokens) says so. Returns the client message.
  inference::v1::GenerateResponse OnDecodeMessage(const inference::v1::DecodeResponse& message,
                                                  absl::Time now);

  // The committed length the sequence must have for NextDecodeRequest() to be valid.
  uint64_t ExpectedSequenceLength() const;
  // The sequence is gone (released or lost); the next step is a prefill.
  void DropSequence() { sequence_id_.clear(); }
  void CountDecodeRetry() { ++decode_retries_; }

  const inference::v1::GenerateRequest& request() const { return request_; }
  bool finished() const { return finish_reason_ != inference::v1::FINISH_REASON_UNSPECIFIED; }
  bool has_sequence() const { return !sequence_id_.empty(); }
  const std::string& sequence_id() const { return sequence_id_; }
  const std::vector<int32_t>& generated() const { return generated_; }
  uint32_t prompt_tokens() const { return static_cast<uint32_t>(prompt_ids_.size()); }
  uint32_t reused_tokens() const { return reused_tokens_; }
  // Time from start to the first token; zero before it.
  absl::Duration ttft() const;
  const inference::v1::HopReport& report() const { return report_; }

 private:
  // Appends `token` and decides whether it ends the generation.
  void Append(int32_t token, absl::Time now);
  bool IsStop(int32_t token) const;
  // Fills the last-message-only fields.
  void AddFinalFields(inference::v1::GenerateResponse* message) const;
  void MergeReport(const inference::v1::HopReport& hop);

  // Constant after construction.
  const inference::v1::GenerateRequest request_;
  const ModelInfo* const model_;
  const absl::Time start_;

  const std::vector<int32_t> prompt_ids_;

  bool prefilled_ = false;
  std::vector<int32_t> generated_;
  std::string sequence_id_;
  inference::v1::FinishReason finish_reason_ = inference::v1::FINISH_REASON_UNSPECIFIED;
  inference::v1::HopReport report_;  // sum over every prefill and decode call
  uint32_t reused_tokens_ = 0;       // of the first prefill
  uint32_t decode_retries_ = 0;
  absl::Time first_token_time_ = absl::InfinitePast();
  absl::Time last_token_time_ = absl::InfinitePast();
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_GENERATION_STATE_H_
