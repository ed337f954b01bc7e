// Writes a built-in synthetic model as an F32 GGUF file (llama architecture) so llama.cpp can run
// the same weights side by side with pdserve (tests/bench/llamacpp/run.sh).
//
// Usage: gguf_export [--model synthetic:bench] OUT.gguf
//
// Only speed is compared: the vocabulary is placeholder pieces (ids 3..258 are the byte tokens
// SentencePiece-style vocabularies must have), and q/k are not permuted to llama.cpp's rotary
// convention, so the generated tokens differ; every shape, dtype and byte read per token match.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "decoder/status_macros.h"
#include "decoder/synthetic.h"

namespace pdserve::bench {
namespace {

using decoder::ModelConfig;

constexpr uint32_t kAlignment = 32;

// GGUF value type ids (gguf.h).
enum GgufType : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kString = 8, kArray = 9 };

// Little-endian GGUF writer over a FILE*. Errors are sticky and reported by Close().
class GgufWriter {
 public:
  explicit GgufWriter(FILE* f) : f_(f) {}

  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void F32(float v) { Raw(&v, 4); }
  void Str(const std::string& s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void KeyString(const std::string& key, const std::string& v) { Str(key); U32(kString); Str(v); }
  void KeyU32(const std::string& key, uint32_t v) { Str(key); U32(kU32); U32(v); }
  void KeyF32(const std::string& key, float v) { Str(key); U32(kF32); F32(v); }
  // Key and array header; the caller writes `n` elements of `type`.
  void KeyArray(const std::string& key, GgufType type, uint64_t n) {
    Str(key);
    U32(kArray);
    U32(type);
    U64(n);
  }
  void Raw(const void* p, size_t n) {
    if (fwrite(p, 1, n, f_) != n) ok_ = false;
    written_ += n;
  }
  void Pad() {
    static const char kZeros[kAlignment] = {};
    Raw(kZeros, (kAlignment - written_ % kAlignment) % kAlignment);
  }
  bool ok() const { return ok_; }

 private:
  FILE* f_;
  uint64_t written_ = 0;
  bool ok_ = true;
};

struct Tensor {
  std::string gguf_name;
  std::string hf_name;
  std::vector<int64_t> shape;  // HF order (out, in); GGUF lists dimensions innermost first
};

std::vector<Tensor> Tensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim,
                kv = int64_t{c.num_kv_heads} * c.head_dim, inter = c.intermediate_size;
  std::vector<Tensor> t = {{"token_embd.weight", "model.embed_tokens.weight", {c.vocab_size, h}}};
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string hf = absl::StrCat("model.layers.", l, "."), gg = absl::StrCat("blk.", l, ".");
    t.push_back({gg + "attn_norm.weight", hf + "input_layernorm.weight", {h}});
    t.push_back({gg + "attn_q.weight", hf + "self_attn.q_proj.weight", {q, h}});
    t.push_back({gg + "attn_k.weight", hf + "self_attn.k_proj.weight", {kv, h}});
    t.push_back({gg + "attn_v.weight", hf + "self_attn.v_proj.weight", {kv, h}});
    t.push_back({gg + "attn_output.weight", hf + "self_attn.o_proj.weight", {h, q}});
    t.push_back({gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", {h}});
    t.push_back({gg + "ffn_gate.weight", hf + "mlp.gate_proj.weight", {inter, h}});
    t.push_back({gg + "ffn_up.weight", hf + "mlp.up_proj.weight", {inter, h}});
    t.push_back({gg + "ffn_down.weight", hf + "mlp.down_proj.weight", {h, inter}});
  }
  t.push_back({"output_norm.weight", "model.norm.weight", {h}});
  if (!c.tie_word_embeddings) t.push_back({"output.weight", "lm_head.weight", {c.vocab_size, h}});
  return t;
}

void WriteMetadata(const ModelConfig& c, const std::string& name, GgufWriter& w) {
  w.KeyString("general.architecture", "llama");
  w.KeyString("general.name", name);
  w.KeyU32("general.alignment", kAlignment);
  w.KeyU32("llama.context_length", c.max_position_embeddings);
  w.KeyU32("llama.embedding_length", c.hidden_size);
  w.KeyU32("llama.block_count", c.num_layers);
  w.KeyU32("llama.feed_forward_length", c.intermediate_size);
  w.KeyU32("llama.rope.dimension_count", c.head_dim);
  w.KeyU32("llama.attention.head_count", c.num_heads);
  w.KeyU32("llama.attention.head_count_kv", c.num_kv_heads);
  w.KeyF32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.KeyF32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  w.KeyString("tokenizer.ggml.model", "llama");
  const int64_t v = c.vocab_size;
  w.KeyArray("tokenizer.ggml.tokens", kString, v);
  for (int64_t i = 0; i < v; ++i) {
    if (i < 3) {
      w.Str(i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
    } else if (i < 259) {
      char piece[8];
      std::snprintf(piece, sizeof(piece), "<0x%02X>", static_cast<int>(i - 3));
      w.Str(piece);
    } else {
      w.Str(absl::StrCat("\xe2\x96\x81t", i));  // "▁t<i>"
    }
  }
  w.KeyArray("tokenizer.ggml.scores", kF32, v);
  for (int64_t i = 0; i < v; ++i) w.F32(-static_cast<float>(i));
  // 1 normal, 2 unknown, 3 control, 6 byte.
  w.KeyArray("tokenizer.ggml.token_type", kI32, v);
  for (int64_t i = 0; i < v; ++i) w.U32(i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1);
}

constexpr uint64_t kMetadataKeys = 16;

absl::Status Export(const std::string& model, const std::string& path) {
  PDSERVE_ASSIGN_OR_RETURN(const ModelConfig c, decoder::SyntheticConfig(model));
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot create ", path));
  GgufWriter w(file.get());
  const std::vector<Tensor> tensors = Tensors(c);
  w.U32(0x46554747);  // "GGUF"
  w.U32(3);           // version
  w.U64(tensors.size());
  w.U64(kMetadataKeys);
  WriteMetadata(c, model, w);
  uint64_t offset = 0;
  for (const Tensor& t : tensors) {
    w.Str(t.gguf_name);
    w.U32(static_cast<uint32_t>(t.shape.size()));
    for (size_t i = t.shape.size(); i-- > 0;) w.U64(t.shape[i]);
    w.U32(0);  // GGML_TYPE_F32
    w.U64(offset);
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    offset += (n * 4 + kAlignment - 1) / kAlignment * kAlignment;
  }
  w.Pad();
  for (const Tensor& t : tensors) {
    const std::vector<float> data = decoder::SyntheticTensor(t.hf_name, t.shape);
    w.Raw(data.data(), data.size() * sizeof(float));
    w.Pad();
  }
  if (!w.ok()) return absl::DataLossError(absl::StrCat("short write to ", path));
  std::fprintf(stderr, "%s: %zu tensors, %.1f MB of F32 data\n", path.c_str(), tensors.size(),
               offset / 1e6);
  return absl::OkStatus();
}

}  // namespace
}  // namespace pdserve::bench

int main(int argc, char** argv) {
  std::string model = "synthetic:bench", out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else {
      out = arg;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "usage: gguf_export [--model synthetic:bench] OUT.gguf\n");
    return 2;
  }
  const absl::Status status = pdserve::bench::Export(model, out);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
