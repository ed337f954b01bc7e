// Validation of Generate requests (see the error model in inference.proto).
#include "services/router/request_validation.h"

#include <cmath>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace pdserve::router {
namespace {

using inference::v1::GenerateRequest;

absl::Status CheckSampling(const inference::v1::SamplingParams& sampling) {
  if (!(sampling.temperature() >= 0) || std::isinf(sampling.temperature())) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.temperature = ",
                                                   sampling.temperature(),
                                                   ": must be a finite value >= 0"));
  }
  if (sampling.has_top_p() && !(sampling.top_p() > 0 && sampling.top_p() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_p = ", sampling.top_p(), ": must be in (0, 1]"));
  }
  if (sampling.top_k() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_k = ", sampling.top_k(), ": must be >= 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckPromptIds(const GenerateRequest& request, const ModelInfo& model,
                            bool from_text) {
  const char* field = from_text ? "prompt_text" : "prompt_token_ids";
  for (int i = 0; i < request.prompt_token_ids_size(); ++i) {
    const int32_t id = request.prompt_token_ids(i);
    if (id < 0 || id >= model.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] = ", id,
                                                     " is outside the vocabulary [0, ",
                                                     model.vocab_size, ")"));
    }
  }
  if (model.max_positions <= 0) return absl::OkStatus();
  const int64_t prompt = request.prompt_token_ids_size();
  const int64_t max_new = request.limits().max_new_tokens();
  if (prompt >= model.max_positions) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", prompt,
                                                   " tokens do not fit the model's context of ",
                                                   model.max_positions));
  }
  // The last generated token is never fed back, so prompt + max_new - 1 positions are used.
  if (prompt + max_new - 1 > model.max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_new_tokens = ", max_new,
                                                   " with a ", prompt,
                                                   "-token prompt exceeds the model's context of ",
                                                   model.max_positions));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GenerateRequest> PrepareGenerateRequest(const GenerateRequest& request,
                                                       const ModelInfo& model,
                                                       uint32_t max_new_tokens_limit) {
  if (!request.model().empty() && request.model() != model.name) {
    return absl::NotFoundError(absl::StrCat("model: '", request.model(),
                                            "' is not served here (serving '", model.name, "')"));
  }
  const bool has_text = !request.prompt_text().empty();
  const bool has_ids = request.prompt_token_ids_size() > 0;
  if (has_text && has_ids) {
    return absl::InvalidArgumentError(
        "prompt_text and prompt_token_ids: give exactly one, both were set");
  }
  if (!has_text && !has_ids) {
    return absl::InvalidArgumentError(
        "prompt_text / prompt_token_ids: the prompt is empty (give exactly one)");
  }
  const uint32_t max_new = request.limits().max_new_tokens();
  if (max_new == 0) {
    return absl::InvalidArgumentError("limits.max_new_tokens = 0: must be at least 1");
  }
  if (max_new > max_new_tokens_limit) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_new_tokens = ", max_new,
                                                   " is above the server's limit ",
                                                   max_new_tokens_limit));
  }
  if (absl::Status sampling = CheckSampling(request.sampling()); !sampling.ok()) return sampling;

  GenerateRequest prepared = request;
  prepared.clear_model();
  if (has_text) {
    if (model.tokenizer == nullptr) {
      return absl::InvalidArgumentError("prompt_text: this router has no tokenizer; send ids");
    }
    absl::StatusOr<std::vector<int32_t>> ids = model.tokenizer->Encode(
        std::string_view(request.prompt_text().data(), request.prompt_text().size()));
    if (!ids.ok()) return ids.status();
    if (ids->empty()) {
      return absl::InvalidArgumentError("prompt_text: the text encodes to no tokens");
    }
    prepared.clear_prompt_text();
    prepared.mutable_prompt_token_ids()->Add(ids->begin(), ids->end());
  }
  if (absl::Status ids = CheckPromptIds(prepared, model, has_text); !ids.ok()) return ids;
  return prepared;
}

}  // namespace pdserve::router
