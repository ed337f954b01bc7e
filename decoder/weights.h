// The model's weights in compute layout, built from any source of HF-named fp32 tensors.
#ifndef PDSERVE_DECODER_WEIGHTS_H_
#define PDSERVE_DECODER_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "decoder/aligned_buffer.h"
#include "decoder/config.h"
#include "decoder/linear.h"

namespace pdserve::decoder::internal {

struct LayerWeights {
  AlignedBuffer input_norm;           // [hidden]
  AlignedBuffer post_attention_norm;  // [hidden]
  PackedLinear qkv;      // [(heads + 2 kv_heads) * head_dim, hidden]: q_proj, k_proj, v_proj rows
  PackedLinear o;        // [hidden, heads * head_dim]
  PackedLinear gate_up;  // [2 * intermediate, hidden]: gate_proj rows, then up_proj rows
  PackedLinear down;     // [hidden, intermediate]
};

struct ModelWeights {
  AlignedBuffer embed;  // [vocab, hidden] row-major
  std::vector<LayerWeights> layers;
  AlignedBuffer final_norm;  // [hidden]
  PackedLinear lm_head;      // [vocab, hidden] (a packed copy of embed when tied)

  // Bytes one forward step reads for a token (all linear layers and norms, not the embedding).
  int64_t StepBytes() const;
};

// Returns the fp32 row-major contents of the HF tensor `name`, which must have `shape`.
using TensorSource = absl::FunctionRef<absl::StatusOr<std::vector<float>>(
    const std::string& name, absl::Span<const int64_t> shape)>;

// Reads every tensor of a Llama model with HF names (model.embed_tokens.weight,
// model.layers.N.self_attn.q_proj.weight, ..., model.norm.weight, lm_head.weight) from `source`
// and packs them. lm_head.weight is only read when !config.tie_word_embeddings.
// REQUIRES: ValidateConfig(config).ok(). Errors come from `source`.
absl::StatusOr<ModelWeights> BuildWeights(const ModelConfig& config, TensorSource source);

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_WEIGHTS_H_
