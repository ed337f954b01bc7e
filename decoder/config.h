// Llama model hyperparameters: parsed from a Hugging Face config.json or built in (synthetic).
#ifndef PDSERVE_DECODER_CONFIG_H_
#define PDSERVE_DECODER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pdserve::decoder {

// HF `rope_scaling`. kind "default" (none), "linear" (positions / factor) or "llama3".
struct RopeScaling {
  std::string kind = "default";
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int original_max_position_embeddings = 8192;
};

struct ModelConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;    // num_hidden_layers
  int num_heads = 0;     // num_attention_heads
  int num_kv_heads = 0;  // num_key_value_heads (defaults to num_heads)
  int head_dim = 0;      // defaults to hidden_size / num_heads
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  int32_t bos_token_id = -1;             // -1 when absent
  std::vector<int32_t> eos_token_ids;    // HF allows an int or a list

  // Floats the model's weights hold (embeddings, all layers, norms, LM head if untied).
  int64_t NumParameters() const;
};

// Checks every field is in range: positive sizes, num_heads % num_kv_heads == 0, head_dim a
// multiple of 8 (the SIMD kernels' lane width), token ids inside the vocabulary.
// Errors are INVALID_ARGUMENT naming the field and values.
absl::Status ValidateConfig(const ModelConfig& config);

// Parses a Hugging Face Llama config.json. `source` (a path) prefixes error messages.
// Unknown keys are ignored; the result is validated with ValidateConfig.
absl::StatusOr<ModelConfig> ParseConfigJson(absl::string_view json_text, absl::string_view source);

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_CONFIG_H_
