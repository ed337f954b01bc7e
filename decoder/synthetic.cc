// Seeded synthetic Llama weights.
#include "decoder/synthetic.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pdserve::decoder {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

ModelConfig Base() {
  ModelConfig c;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = false;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

}  // namespace

bool IsSyntheticName(absl::string_view name) { return absl::StartsWith(name, "synthetic:"); }

absl::StatusOr<ModelConfig> SyntheticConfig(absl::string_view name) {
  ModelConfig c = Base();
  if (name == "synthetic:tiny") {
    c.vocab_size = 512;
    c.hidden_size = 64;
    c.intermediate_size = 172;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 16;
    c.max_position_embeddings = 4096;
  } else if (name == "synthetic:bench") {
    c.vocab_size = 32000;
    c.hidden_size = 768;
    c.intermediate_size = 2048;
    c.num_layers = 12;
    c.num_heads = 12;
    c.num_kv_heads = 4;
    c.head_dim = 64;
    c.max_position_embeddings = 8192;
  } else {
    return absl::NotFoundError(absl::StrCat("unknown synthetic model '", name,
                                            "' (known: synthetic:tiny, synthetic:bench)"));
  }
  return c;
}

std::vector<float> SyntheticTensor(const std::string& name, absl::Span<const int64_t> shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<float> out(count);
  uint64_t state = Fnv1a(name);
  // Uniform in [-1, 1) from the top 24 bits: exact in float, identical everywhere.
  auto uniform = [&state] {
    return static_cast<float>(static_cast<int64_t>(SplitMix64(state) >> 40) - (1 << 23)) *
           (1.0f / (1 << 23));
  };
  if (shape.size() == 1) {  // norm weights: 1 +- 0.1
    for (float& v : out) v = 1.0f + 0.1f * uniform();
    return out;
  }
  // Projections: variance 1/fan_in keeps activations O(1). Embeddings: O(1) entries.
  // The LM head is scaled up so that logits spread over a few units (peaked distributions).
  float scale = std::sqrt(3.0f / static_cast<float>(shape[1]));
  if (name == "model.embed_tokens.weight") scale = 1.0f;
  if (name == "lm_head.weight") scale *= 4.0f;
  for (float& v : out) v = scale * uniform();
  return out;
}

}  // namespace pdserve::decoder
