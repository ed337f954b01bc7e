// The transformer forward pass shared by Prefill and DecodeStep.
#ifndef PDSERVE_DECODER_FORWARD_H_
#define PDSERVE_DECODER_FORWARD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "decoder/attention.h"
#include "decoder/config.h"
#include "decoder/ops.h"
#include "decoder/thread_pool.h"
#include "decoder/weights.h"

namespace pdserve::decoder::internal {

// Everything a loaded Model holds. Immutable after construction except the pool (thread-safe).
struct ModelState {
  ModelState(ModelConfig c, ModelWeights w, std::string n, std::string dir, int threads)
      : config(std::move(c)), weights(std::move(w)), name(std::move(n)),
        directory(std::move(dir)), rope(config), pool(threads) {}
  ModelConfig config;
  ModelWeights weights;
  std::string name;
  std::string directory;
  Rope rope;
  mutable ThreadPool pool;
};

// One token to compute: its id, its absolute position, and the K/V of positions [0, position]
// (the tail of `kv` must include this token's own slot, which Forward fills before attention).
struct ForwardRow {
  int32_t token;
  int64_t position;
  KvSource kv;
};

// Runs all layers for `rows` (validated by the caller).
// kv_out: rows.size() * TokenFloats floats; row i's K/V is written at i * TokenFloats.
// on_layer(l) is called once layer l's K/V is written for every row.
// logit_rows: which rows need logits; logits_out: logit_rows.size() * vocab_size floats.
void Forward(const ModelState& model, absl::Span<const ForwardRow> rows, float* kv_out,
             absl::FunctionRef<void(int)> on_layer, absl::Span<const int64_t> logit_rows,
             float* logits_out);

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_FORWARD_H_
