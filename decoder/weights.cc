// Packs HF tensors into the compute layout.
#include "decoder/weights.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "decoder/status_macros.h"

namespace pdserve::decoder::internal {
namespace {

AlignedBuffer ToBuffer(const std::vector<float>& v) {
  AlignedBuffer b(static_cast<int64_t>(v.size()));
  std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}

// Concatenates row-major matrices with equal column counts along rows, then packs.
PackedLinear PackRows(const std::vector<const std::vector<float>*>& parts, int64_t cols) {
  std::vector<float> all;
  for (const auto* p : parts) all.insert(all.end(), p->begin(), p->end());
  return PackedLinear(all, static_cast<int64_t>(all.size()) / cols, cols);
}

}  // namespace

int64_t ModelWeights::StepBytes() const {
  int64_t bytes = lm_head.bytes() + final_norm.size() * 4;
  for (const LayerWeights& l : layers) {
    bytes += l.qkv.bytes() + l.o.bytes() + l.gate_up.bytes() + l.down.bytes() +
             (l.input_norm.size() + l.post_attention_norm.size()) * 4;
  }
  return bytes;
}

absl::StatusOr<ModelWeights> BuildWeights(const ModelConfig& c, TensorSource source) {
  const int64_t h = c.hidden_size;
  const int64_t q = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t inter = c.intermediate_size;
  ModelWeights w;
  PDSERVE_ASSIGN_OR_RETURN(std::vector<float> embed,
                           source("model.embed_tokens.weight", {c.vocab_size, h}));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    LayerWeights l;
    PDSERVE_ASSIGN_OR_RETURN(auto in_norm, source(p + "input_layernorm.weight", {h}));
    PDSERVE_ASSIGN_OR_RETURN(auto post_norm, source(p + "post_attention_layernorm.weight", {h}));
    l.input_norm = ToBuffer(in_norm);
    l.post_attention_norm = ToBuffer(post_norm);
    {
      PDSERVE_ASSIGN_OR_RETURN(auto wq, source(p + "self_attn.q_proj.weight", {q, h}));
      PDSERVE_ASSIGN_OR_RETURN(auto wk, source(p + "self_attn.k_proj.weight", {kv, h}));
      PDSERVE_ASSIGN_OR_RETURN(auto wv, source(p + "self_attn.v_proj.weight", {kv, h}));
      l.qkv = PackRows({&wq, &wk, &wv}, h);
    }
    {
      PDSERVE_ASSIGN_OR_RETURN(auto wo, source(p + "self_attn.o_proj.weight", {h, q}));
      l.o = PackedLinear(wo, h, q);
    }
    {
      PDSERVE_ASSIGN_OR_RETURN(auto wg, source(p + "mlp.gate_proj.weight", {inter, h}));
      PDSERVE_ASSIGN_OR_RETURN(auto wu, source(p + "mlp.up_proj.weight", {inter, h}));
      l.gate_up = PackRows({&wg, &wu}, h);
    }
    {
      PDSERVE_ASSIGN_OR_RETURN(auto wd, source(p + "mlp.down_proj.weight", {h, inter}));
      l.down = PackedLinear(wd, h, inter);
    }
    w.layers.push_back(std::move(l));
  }
  PDSERVE_ASSIGN_OR_RETURN(auto norm, source("model.norm.weight", {h}));
  w.final_norm = ToBuffer(norm);
  if (c.tie_word_embeddings) {
    w.lm_head = PackedLinear(embed, c.vocab_size, h);
  } else {
    PDSERVE_ASSIGN_OR_RETURN(auto lm, source("lm_head.weight", {c.vocab_size, h}));
    w.lm_head = PackedLinear(lm, c.vocab_size, h);
  }
  w.embed = ToBuffer(embed);
  return w;
}

}  // namespace pdserve::decoder::internal
