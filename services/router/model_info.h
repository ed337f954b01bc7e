// What the router needs to know about the served model without loading its weights: the name
// requests must match, the vocabulary and context sizes, the end-of-sequence tokens and the
// tokenizer (the same one prefill uses, so text prompts become the same ids).
#ifndef PDSERVE_SERVICES_ROUTER_MODEL_INFO_H_
#define PDSERVE_SERVICES_ROUTER_MODEL_INFO_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "decoder/tokenizer.h"

namespace pdserve::router {

// Immutable after LoadModelInfo; thread-safe.
struct ModelInfo {
  std::string name;                  // as given by --model; requests must say "" or this
  int vocab_size = 0;                // token ids must lie in [0, vocab_size)
  int max_positions = 0;             // prompt + generated tokens must stay below this
  std::vector<int32_t> eos_token_ids;
  std::shared_ptr<const decoder::Tokenizer> tokenizer;  // null: text prompts are rejected

  bool IsEos(int32_t token) const;
};

// Reads the config of `dir_or_name` ("synthetic:<x>" or a Hugging Face directory's
// config.json) and builds its tokenizer. NOT_FOUND for an unknown synthetic name or a missing
// config.json, INVALID_ARGUMENT for a malformed config, DATA_LOSS for a bad tokenizer.model.
absl::StatusOr<ModelInfo> LoadModelInfo(absl::string_view dir_or_name);

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_MODEL_INFO_H_
