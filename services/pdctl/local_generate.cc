// The reference generation loop over the decoder library, timed like a remote call.
#include "services/pdctl/local_generate.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "decoder/kv_layout.h"
#include "decoder/model.h"
#include "decoder/sampler.h"
#include "decoder/tokenizer.h"
#include "services/common/status_macros.h"

namespace pdserve::pdctl {
namespace {

absl::StatusOr<std::vector<int32_t>> PromptIds(const inference::v1::GenerateRequest& request,
                                               const decoder::Tokenizer& tokenizer) {
  if (!request.prompt_text().empty() && request.prompt_token_ids_size() > 0) {
    return absl::InvalidArgumentError("prompt_text and prompt_token_ids: give exactly one");
  }
  std::vector<int32_t> ids(request.prompt_token_ids().begin(), request.prompt_token_ids().end());
  if (!request.prompt_text().empty()) {
    // No BOS, as prefill_server and router_server encode text.
    PDSERVE_ASSIGN_OR_RETURN(ids, tokenizer.Encode(std::string_view(request.prompt_text())));
  }
  if (ids.empty()) return absl::InvalidArgumentError("prompt: empty");
  return ids;
}

}  // namespace

absl::StatusOr<GenerateResult> LocalGenerate(const LocalOptions& options,
                                             const inference::v1::GenerateRequest& request) {
  decoder::LoadOptions load;
  load.num_threads = options.model_threads;
  PDSERVE_ASSIGN_OR_RETURN(std::unique_ptr<decoder::Model> model,
                           decoder::Model::Load(options.model, load));
  PDSERVE_ASSIGN_OR_RETURN(std::unique_ptr<decoder::Tokenizer> tokenizer,
                           decoder::Tokenizer::Create(*model));
  PDSERVE_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, PromptIds(request, *tokenizer));

  decoder::SamplingParams params;
  params.temperature = request.sampling().temperature();
  params.top_k = request.sampling().top_k();
  params.top_p = request.sampling().has_top_p() ? request.sampling().top_p() : 1.0f;
  params.seed = request.sampling().seed();
  PDSERVE_RETURN_IF_ERROR(decoder::Validate(params));
  const decoder::Sampler sampler(params);

  const decoder::ModelConfig& config = model->config();
  const int64_t max_new = request.limits().max_new_tokens();
  if (max_new < 1) {
    return absl::InvalidArgumentError("limits.max_new_tokens: must be at least 1");
  }
  if (static_cast<int64_t>(prompt.size()) + max_new - 1 > config.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_new_tokens = ", max_new, " with a ", prompt.size(),
                     "-token prompt exceeds the model's context of ",
                     config.max_position_embeddings));
  }
  std::vector<int32_t> stops(request.limits().stop_token_ids().begin(),
                             request.limits().stop_token_ids().end());
  if (!request.limits().ignore_eos()) {
    stops.insert(stops.end(), config.eos_token_ids.begin(), config.eos_token_ids.end());
  }
  auto is_stop = [&](int32_t t) { return std::find(stops.begin(), stops.end(), t) != stops.end(); };

  // All K/V in one buffer sized up front, so the single span over it never moves.
  const int64_t token_floats = model->kv_layout().TokenFloats();
  std::vector<float> kv((prompt.size() + max_new) * token_floats);
  std::vector<float> logits(config.vocab_size);
  GenerateResult result;
  result.mode = "local";
  result.prompt_tokens = static_cast<uint32_t>(prompt.size());

  const absl::Time start = absl::Now();
  PDSERVE_RETURN_IF_ERROR(model->Prefill(
      {}, prompt, absl::MakeSpan(kv.data(), prompt.size() * token_floats), [](int) {},
      absl::MakeSpan(logits)));
  int32_t token = sampler.SampleAt(logits, 0);
  const double first_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  result.token_ids.push_back(token);
  int64_t length = static_cast<int64_t>(prompt.size());  // tokens whose K/V is in `kv`
  while (!is_stop(token) && static_cast<int64_t>(result.token_ids.size()) < max_new) {
    const decoder::KvSpan past{kv.data(), length};
    const decoder::Model::DecodeItem item{token, decoder::KvView(&past, 1)};
    PDSERVE_RETURN_IF_ERROR(model->DecodeStep(
        absl::MakeConstSpan(&item, 1),
        absl::MakeSpan(kv.data() + length * token_floats, token_floats), absl::MakeSpan(logits)));
    ++length;
    token = sampler.SampleAt(logits, result.token_ids.size());
    result.token_ids.push_back(token);
  }
  const double last_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  result.finish_reason = is_stop(token) ? "stop" : "length";
  result.text = tokenizer->Decode(result.token_ids);
  result.report.set_prefill_compute_us(static_cast<uint64_t>(first_ms * 1000));
  result.report.set_decode_compute_us(static_cast<uint64_t>((last_ms - first_ms) * 1000));
  SetTimings(first_ms, last_ms, &result);
  return result;
}

}  // namespace pdserve::pdctl
