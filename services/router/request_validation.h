// Checks a Generate request against the served model and the router's limits before any
// downstream call is made, so bad input fails fast with a status naming the field, and turns a
// text prompt into token ids (the router then always knows the prompt's ids).
#ifndef PDSERVE_SERVICES_ROUTER_REQUEST_VALIDATION_H_
#define PDSERVE_SERVICES_ROUTER_REQUEST_VALIDATION_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/router/model_info.h"

namespace pdserve::router {

// The request with prompt_text replaced by its token ids (no BOS is added, as in prefill), or:
//   NOT_FOUND         model is neither empty nor the served model's name;
//   INVALID_ARGUMENT  both or neither of prompt_text / prompt_token_ids, a text that encodes
//                     to no tokens, a token id outside [0, vocab), a prompt that leaves no
//                     room in the context for max_new_tokens, max_new_tokens 0 or above
//                     `max_new_tokens_limit`, temperature < 0, top_p outside (0, 1], top_k < 0.
absl::StatusOr<inference::v1::GenerateRequest> PrepareGenerateRequest(
    const inference::v1::GenerateRequest& request, const ModelInfo& model,
    uint32_t max_new_tokens_limit);

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_REQUEST_VALIDATION_H_
