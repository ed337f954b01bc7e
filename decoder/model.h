// The Llama model that prefill and decode run: loading, Prefill (many tokens of one sequence)
// and DecodeStep (one token for each of a batch of sequences) over paged K/V.
#ifndef PDSERVE_DECODER_MODEL_H_
#define PDSERVE_DECODER_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "decoder/config.h"
#include "decoder/kv_layout.h"

namespace pdserve::decoder {

namespace internal {
struct ModelState;
}  // namespace internal

struct LoadOptions {
  // Threads the kernels use (the caller's plus num_threads - 1 workers). 0: the machine's cores.
  int num_threads = 0;
};

// A Llama-architecture decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU), fp32.
//
// Immutable after Load; all const methods are thread-safe. Concurrent calls share one kernel
// thread pool: a call that finds it busy runs single-threaded (same results).
//
// Determinism: a token's K/V and logits are bit-identical however it is computed: in any batch
// size or batch position, in a Prefill covering any number of tokens, and with the past split
// into spans in any way. So prefill + decode, prefix reuse and recomputation all agree exactly.
class Model {
 public:
  // `dir_or_name`: "synthetic:tiny", "synthetic:bench", or a Hugging Face layout directory with
  // config.json and model.safetensors (or shards + model.safetensors.index.json), tensors in
  // F32/F16/BF16. Errors name the file and tensor: NOT_FOUND (missing file/tensor), DATA_LOSS
  // (corrupt safetensors), INVALID_ARGUMENT (bad config, dtype or shape).
  static absl::StatusOr<std::unique_ptr<Model>> Load(std::string_view dir_or_name,
                                                     const LoadOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  KvLayout kv_layout() const;
  // Model namespace: "synthetic:<x>", or "<canonical dir>@<xxh64 of the weight files, hex>".
  const std::string& name() const;
  // The directory the model was loaded from, or the synthetic name.
  const std::string& directory() const;

  // Computes tokens at positions [past_len, past_len + tokens.size()), past_len = TotalTokens(past).
  // kv_out: tokens.size() * TokenFloats() floats, receives the new tokens' K/V (token-major).
  // on_layer(l) runs (on the calling thread) as soon as layer l's K/V of every new token is final
  // in kv_out. logits_out: vocab_size floats, the last new token's logits.
  // INVALID_ARGUMENT: empty tokens, token id outside [0, vocab_size), last position >=
  // max_position_embeddings, wrong kv_out/logits_out size, malformed past spans.
  absl::Status Prefill(KvView past, absl::Span<const int32_t> tokens, absl::Span<float> kv_out,
                       absl::FunctionRef<void(int layer)> on_layer,
                       absl::Span<float> logits_out) const;

  // One token for one sequence, at position TotalTokens(past).
  struct DecodeItem {
    int32_t token;
    KvView past;
  };
  // One step for a batch of sequences; the weights are read once for the whole batch.
  // kv_out: batch.size() * TokenFloats() (item i's new K/V at i * TokenFloats()).
  // logits_out: batch.size() * vocab_size (item i's at i * vocab_size).
  // INVALID_ARGUMENT as for Prefill (field named with the item index), or an empty batch.
  absl::Status DecodeStep(absl::Span<const DecodeItem> batch, absl::Span<float> kv_out,
                          absl::Span<float> logits_out) const;
  // As above; on_layer(l) runs (on the calling thread) as soon as layer l's K/V of every item is
  // final in kv_out. After the last layer only the LM head remains, so a caller can ship the
  // step's K/V while the logits are computed.
  absl::Status DecodeStep(absl::Span<const DecodeItem> batch, absl::Span<float> kv_out,
                          absl::FunctionRef<void(int layer)> on_layer,
                          absl::Span<float> logits_out) const;

  // Bytes of weights one forward step reads (for bandwidth figures).
  int64_t WeightBytesPerStep() const;

 private:
  explicit Model(std::unique_ptr<internal::ModelState> state);
  std::unique_ptr<internal::ModelState> state_;
};

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_MODEL_H_
