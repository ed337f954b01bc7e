// Built-in seeded synthetic models ("synthetic:tiny", "synthetic:bench"): no download needed.
#ifndef PDSERVE_DECODER_SYNTHETIC_H_
#define PDSERVE_DECODER_SYNTHETIC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "decoder/config.h"

namespace pdserve::decoder {

// True for names starting with "synthetic:".
bool IsSyntheticName(absl::string_view name);

// Config of a built-in model:
//   synthetic:tiny  - 2 layers, hidden 64, 4 heads, 2 kv heads, intermediate 172, vocab 512,
//                     4096 positions (fast tests);
//   synthetic:bench - 12 layers, hidden 768, 12 heads, 4 kv heads, intermediate 2048,
//                     vocab 32000, 8192 positions (~124M parameters, untied LM head).
// Both: bos 1, eos 2 (the byte-level tokenizer's ids), rope_theta 10000, eps 1e-5.
// NOT_FOUND for other names.
absl::StatusOr<ModelConfig> SyntheticConfig(absl::string_view name);

// Deterministic contents (across runs, compilers and machines) of the HF tensor `name`:
// uniform values from a splitmix64 stream seeded by the name, scaled by 1/sqrt(fan_in) for
// projections; norms are near 1.
std::vector<float> SyntheticTensor(const std::string& name, absl::Span<const int64_t> shape);

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_SYNTHETIC_H_
