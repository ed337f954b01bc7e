// `pdctl generate --local`: the in-process reference. The decoder's Prefill over the prompt,
// then one DecodeStep per token over K/V kept in this process, each token drawn with the same
// per-step seeded sampler the servers use. Same model, prompt, sampling and seed => the same
// tokens as through the router.
#ifndef PDSERVE_SERVICES_PDCTL_LOCAL_GENERATE_H_
#define PDSERVE_SERVICES_PDCTL_LOCAL_GENERATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/pdctl/generate_result.h"

namespace pdserve::pdctl {

struct LocalOptions {
  std::string model = "synthetic:tiny";  // synthetic:<name> or a Hugging Face directory
  int model_threads = 0;                 // 0: one per core
};

// Loads the model and generates. INVALID_ARGUMENT for the same bad input the router rejects
// (empty prompt, ids outside the vocabulary, no room in the context, bad sampling);
// the model loader's errors for a bad --model.
absl::StatusOr<GenerateResult> LocalGenerate(const LocalOptions& options,
                                             const inference::v1::GenerateRequest& request);

}  // namespace pdserve::pdctl

#endif  // PDSERVE_SERVICES_PDCTL_LOCAL_GENERATE_H_
