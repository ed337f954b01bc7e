// Token bookkeeping, continuation requests and the final message of one generation.
#include "services/router/generation_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace pdserve::router {

using inference::v1::DecodeRequest;
using inference::v1::DecodeResponse;
using inference::v1::GenerateResponse;
using inference::v1::HopReport;
using inference::v1::PrefillRequest;
using inference::v1::PrefillResponse;

GenerationState::GenerationState(const inference::v1::GenerateRequest& request,
                                 const ModelInfo* model, absl::Time start)
    : request_(request),
      model_(model),
      start_(start),
      prompt_ids_(request.prompt_token_ids().begin(), request.prompt_token_ids().end()) {}

PrefillRequest GenerationState::NextPrefillRequest() const {
  PrefillRequest prefill;
  *prefill.mutable_sampling() = request_.sampling();
  prefill.mutable_prompt_token_ids()->Reserve(prompt_ids_.size() + generated_.size());
  prefill.mutable_prompt_token_ids()->Add(prompt_ids_.begin(), prompt_ids_.end());
  prefill.mutable_prompt_token_ids()->Add(generated_.begin(), generated_.end());
  prefill.set_resume_generated(static_cast<uint32_t>(generated_.size()));
  return prefill;
}

GenerateResponse GenerationState::OnPrefill(const PrefillResponse& response, absl::Time now) {
  PDSERVE_CHECK(!finished());
  if (!prefilled_) {
    prefilled_ = true;
    reused_tokens_ = response.reused_tokens();
  }
  sequence_id_ = response.sequence_id();
  MergeReport(response.report());
  Append(response.first_token_id(), now);
  GenerateResponse message;
  message.add_token_ids(response.first_token_id());
  message.set_text(response.first_text());
  if (finished()) AddFinalFields(&message);
  return message;
}

DecodeRequest GenerationState::NextDecodeRequest() const {
  PDSERVE_CHECK(has_sequence() && !finished() && !generated_.empty());
  const uint32_t g = static_cast<uint32_t>(generated_.size());
  DecodeRequest decode;
  decode.set_sequence_id(sequence_id_);
  decode.set_last_token_id(generated_.back());
  decode.set_position(ExpectedSequenceLength());
  decode.set_step_index(g);
  *decode.mutable_sampling() = request_.sampling();
  *decode.mutable_limits() = request_.limits();
  decode.mutable_limits()->set_max_new_tokens(request_.limits().max_new_tokens() - g);
  return decode;
}

GenerateResponse GenerationState::OnDecodeMessage(const DecodeResponse& message, absl::Time now) {
  PDSERVE_CHECK(!finished());
  MergeReport(message.report());
  Append(message.token_id(), now);
  if (!finished() && message.finish_reason() != inference::v1::FINISH_REASON_UNSPECIFIED) {
    finish_reason_ = message.finish_reason();
  }
  GenerateResponse out;
  out.add_token_ids(message.token_id());
  out.set_text(message.text());
  if (finished()) AddFinalFields(&out);
  return out;
}

uint64_t GenerationState::ExpectedSequenceLength() const {
  return prompt_ids_.size() + generated_.size() - 1;
}

absl::Duration GenerationState::ttft() const {
  return generated_.empty() ? absl::ZeroDuration() : first_token_time_ - start_;
}

void GenerationState::Append(int32_t token, absl::Time now) {
  if (generated_.empty()) first_token_time_ = now;
  last_token_time_ = now;
  generated_.push_back(token);
  if (IsStop(token)) {
    finish_reason_ = inference::v1::FINISH_REASON_STOP;
  } else if (generated_.size() >= request_.limits().max_new_tokens()) {
    finish_reason_ = inference::v1::FINISH_REASON_LENGTH;
  }
}

bool GenerationState::IsStop(int32_t token) const {
  const auto& stops = request_.limits().stop_token_ids();
  if (std::find(stops.begin(), stops.end(), token) != stops.end()) return true;
  return !request_.limits().ignore_eos() && model_->IsEos(token);
}

void GenerationState::AddFinalFields(GenerateResponse* message) const {
  message->set_finish_reason(finish_reason_);
  inference::v1::Usage* usage = message->mutable_usage();
  usage->set_prompt_tokens(prompt_tokens());
  usage->set_completion_tokens(static_cast<uint32_t>(generated_.size()));
  usage->set_reused_tokens(reused_tokens_);
  message->set_ttft_us(absl::ToInt64Microseconds(ttft()));
  if (generated_.size() > 1) {
    message->set_mean_tpot_us(absl::ToInt64Microseconds(
        (last_token_time_ - first_token_time_) / static_cast<int64_t>(generated_.size() - 1)));
  }
  *message->mutable_report() = report_;
  message->mutable_report()->set_reused_tokens(reused_tokens_);
  message->set_decode_retries(decode_retries_);
}

void GenerationState::MergeReport(const HopReport& hop) {
  report_.set_queue_us(report_.queue_us() + hop.queue_us());
  report_.set_prefill_compute_us(report_.prefill_compute_us() + hop.prefill_compute_us());
  report_.set_kv_write_us(report_.kv_write_us() + hop.kv_write_us());
  report_.set_prefix_read_us(report_.prefix_read_us() + hop.prefix_read_us());
  report_.set_decode_compute_us(report_.decode_compute_us() + hop.decode_compute_us());
  report_.set_kv_fetch_us(report_.kv_fetch_us() + hop.kv_fetch_us());
  report_.set_append_us(report_.append_us() + hop.append_us());
  report_.set_kv_bytes_written(report_.kv_bytes_written() + hop.kv_bytes_written());
  report_.set_kv_bytes_read(report_.kv_bytes_read() + hop.kv_bytes_read());
}

}  // namespace pdserve::router
