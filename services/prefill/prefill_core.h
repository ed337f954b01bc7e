// Prefill: creates the sequence in the cache manager, reuses its cached prefix, computes the
// rest of the prompt, streams the new K/V layer by layer, commits and samples the first token.
// No gRPC types here; prefill_service.h adapts it.
#ifndef PDSERVE_SERVICES_PREFILL_PREFILL_CORE_H_
#define PDSERVE_SERVICES_PREFILL_PREFILL_CORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "decoder/model.h"
#include "decoder/sampler.h"
#include "decoder/tokenizer.h"
#include "services/common/hop_report.h"
#include "services/kv_client/kv_cache_client.h"

namespace pdserve::prefill {

struct PrefillInput {
  std::string model;                  // empty = the served model
  std::string prompt_text;            // exactly one of prompt_text / prompt_token_ids
  std::vector<int32_t> prompt_token_ids;
  bool has_text = false;
  decoder::SamplingParams sampling;
  uint32_t resume_generated = 0;      // last N prompt tokens were generated earlier
  absl::Duration lease_ttl;           // zero = the manager's default
};

struct PrefillOutput {
  std::string sequence_id;
  int32_t first_token_id = 0;
  std::string first_text;
  uint32_t prompt_tokens = 0;
  uint32_t reused_tokens = 0;
  common::HopReport report;
};

struct PrefillCoreOptions {
  const decoder::Model* model = nullptr;          // not owned
  const decoder::Tokenizer* tokenizer = nullptr;  // not owned
  kvclient::KvCacheClient* cache = nullptr;       // not owned
  std::vector<std::string> model_aliases;         // names requests may use besides model->name()
};

// Thread-safe: Run() may be called from many worker threads at once.
class PrefillCore {
 public:
  explicit PrefillCore(const PrefillCoreOptions& options) : options_(options) {}

  // Validates `input` (INVALID_ARGUMENT / NOT_FOUND naming the field), then runs the prefill.
  // Cache manager failures come back with their code (UNAVAILABLE, RESOURCE_EXHAUSTED, ...);
  // a sequence created before a failure is released.
  absl::StatusOr<PrefillOutput> Run(const PrefillInput& input) const;

  // Validation and tokenization alone (also used by the router-facing checks).
  absl::StatusOr<std::vector<int32_t>> PromptTokens(const PrefillInput& input) const;

 private:
  absl::StatusOr<PrefillOutput> RunOnSequence(const std::vector<int32_t>& tokens,
                                              const PrefillInput& input,
                                              const kvclient::CreatedSequence& created) const;

  const PrefillCoreOptions options_;
};

}  // namespace pdserve::prefill

#endif  // PDSERVE_SERVICES_PREFILL_PREFILL_CORE_H_
