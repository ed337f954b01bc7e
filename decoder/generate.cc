// Reference generation loops.
#include "decoder/generate.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "decoder/status_macros.h"

namespace pdserve::decoder {
namespace {

constexpr int64_t kBlockTokens = 16;

absl::Status CheckArgs(absl::Span<const int32_t> prompt, const SamplingParams& params,
                       const StopCondition& stop) {
  PDSERVE_RETURN_IF_ERROR(Validate(params));
  if (prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  if (stop.max_new_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens must be >= 0, got ", stop.max_new_tokens));
  }
  return absl::OkStatus();
}

// Appends `token`; returns true if generation is over (and sets the reason).
bool Emit(int32_t token, int64_t prompt_len, int max_positions, const StopCondition& stop,
          GenerationResult* result) {
  result->tokens.push_back(token);
  if (stop.IsStopToken(token)) {
    result->finish_reason = FinishReason::kStopToken;
    return true;
  }
  if (static_cast<int>(result->tokens.size()) >= stop.max_new_tokens) {
    result->finish_reason = FinishReason::kLength;
    return true;
  }
  // The next step would compute the just-emitted token at position prompt_len + size - 1.
  if (prompt_len + static_cast<int64_t>(result->tokens.size()) > max_positions) {
    result->finish_reason = FinishReason::kMaxPosition;
    return true;
  }
  return false;
}

// A sequence's K/V in separately allocated 16-token blocks (like the cache manager's pool).
class BlockKv {
 public:
  explicit BlockKv(int64_t token_floats) : token_floats_(token_floats) {}

  void Append(const float* kv, int64_t tokens) {
    for (int64_t i = 0; i < tokens; ++i) {
      if (num_tokens_ % kBlockTokens == 0) {
        blocks_.push_back(std::make_unique<float[]>(kBlockTokens * token_floats_));
      }
      std::copy(kv + i * token_floats_, kv + (i + 1) * token_floats_,
                blocks_.back().get() + (num_tokens_ % kBlockTokens) * token_floats_);
      ++num_tokens_;
    }
  }

  // Spans over all tokens; valid until the next Append.
  std::vector<KvSpan> View() const {
    std::vector<KvSpan> spans;
    for (size_t b = 0; b < blocks_.size(); ++b) {
      spans.push_back(
          {blocks_[b].get(), std::min(kBlockTokens, num_tokens_ - int64_t(b) * kBlockTokens)});
    }
    return spans;
  }

 private:
  int64_t token_floats_;
  int64_t num_tokens_ = 0;
  std::vector<std::unique_ptr<float[]>> blocks_;
};

}  // namespace

bool StopCondition::IsStopToken(int32_t token) const {
  return std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end();
}

absl::StatusOr<GenerationResult> Generate(const Model& model, absl::Span<const int32_t> prompt,
                                          const SamplingParams& params,
                                          const StopCondition& stop) {
  PDSERVE_RETURN_IF_ERROR(CheckArgs(prompt, params, stop));
  GenerationResult result;
  if (stop.max_new_tokens == 0) return result;
  const Sampler sampler(params);
  const int64_t tf = model.kv_layout().TokenFloats();
  const int vocab = model.config().vocab_size;
  const int max_pos = model.config().max_position_embeddings;
  std::vector<float> kv(prompt.size() * tf);
  std::vector<float> logits(vocab);
  PDSERVE_RETURN_IF_ERROR(model.Prefill({}, prompt, absl::MakeSpan(kv), [](int) {},
                                        absl::MakeSpan(logits)));
  BlockKv cache(tf);
  cache.Append(kv.data(), static_cast<int64_t>(prompt.size()));
  kv.resize(tf);
  for (uint64_t step = 0;; ++step) {
    const int32_t token = sampler.SampleAt(logits, step);
    if (Emit(token, static_cast<int64_t>(prompt.size()), max_pos, stop, &result)) break;
    const std::vector<KvSpan> past = cache.View();
    const Model::DecodeItem item{token, past};
    PDSERVE_RETURN_IF_ERROR(model.DecodeStep(absl::MakeConstSpan(&item, 1), absl::MakeSpan(kv),
                                             absl::MakeSpan(logits)));
    cache.Append(kv.data(), 1);
  }
  return result;
}

absl::StatusOr<GenerationResult> GenerateByRecompute(const Model& model,
                                                     absl::Span<const int32_t> prompt,
                                                     const SamplingParams& params,
                                                     const StopCondition& stop) {
  PDSERVE_RETURN_IF_ERROR(CheckArgs(prompt, params, stop));
  GenerationResult result;
  if (stop.max_new_tokens == 0) return result;
  const Sampler sampler(params);
  const int64_t tf = model.kv_layout().TokenFloats();
  std::vector<int32_t> seq(prompt.begin(), prompt.end());
  std::vector<float> logits(model.config().vocab_size);
  std::vector<float> kv;
  for (uint64_t step = 0;; ++step) {
    kv.resize(seq.size() * tf);
    PDSERVE_RETURN_IF_ERROR(
        model.Prefill({}, seq, absl::MakeSpan(kv), [](int) {}, absl::MakeSpan(logits)));
    const int32_t token = sampler.SampleAt(logits, step);
    if (Emit(token, static_cast<int64_t>(prompt.size()), model.config().max_position_embeddings,
             stop, &result)) {
      break;
    }
    seq.push_back(token);
  }
  return result;
}

}  // namespace pdserve::decoder
