// Test helpers.
#include "decoder/test_util.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "decoder/synthetic.h"
#include "nlohmann/json.hpp"

namespace pdserve::decoder::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp", "/pdserve_decoder_XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// IEEE binary32 to binary16, round to nearest even (as F16C's vcvtps2ph), in plain C++.
uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0);  // inf, NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00;  // rounds past 65504: inf
  if (abs < 0x38800000u) {
    // Below 2^-14: a subnormal half, round(|f| * 2^24) units of 2^-24 (the scaling is exact).
    float a;
    std::memcpy(&a, &abs, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  uint32_t r = abs - 0x38000000u;  // exponent bias 127 -> 15
  r += 0xfff + ((r >> 13) & 1);
  return sign | static_cast<uint16_t>(r >> 13);
}

}  // namespace

std::string SafetensorsBytes(const std::vector<TestTensor>& tensors, DType dtype) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  const char* dtype_name = dtype == DType::kF32 ? "F32" : dtype == DType::kF16 ? "F16" : "BF16";
  for (const TestTensor& t : tensors) {
    const size_t begin = data.size();
    for (float v : t.values) {
      if (dtype == DType::kF32) {
        data.append(reinterpret_cast<const char*>(&v), 4);
      } else if (dtype == DType::kF16) {
        const uint16_t h = FloatToHalf(v);
        data.append(reinterpret_cast<const char*>(&h), 2);
      } else {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        bits += 0x7FFF + ((bits >> 16) & 1);  // round to nearest even
        const uint16_t b = static_cast<uint16_t>(bits >> 16);
        data.append(reinterpret_cast<const char*>(&b), 2);
      }
    }
    header[t.name] = {{"dtype", dtype_name}, {"shape", t.shape},
                      {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  std::string out(8, '\0');
  uint64_t len = h.size();
  std::memcpy(out.data(), &len, 8);
  return out + h + data;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

std::string ConfigJson(const ModelConfig& c) {
  nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}},
                      {"model_type", "llama"},
                      {"vocab_size", c.vocab_size},
                      {"hidden_size", c.hidden_size},
                      {"intermediate_size", c.intermediate_size},
                      {"num_hidden_layers", c.num_layers},
                      {"num_attention_heads", c.num_heads},
                      {"num_key_value_heads", c.num_kv_heads},
                      {"head_dim", c.head_dim},
                      {"max_position_embeddings", c.max_position_embeddings},
                      {"rms_norm_eps", c.rms_norm_eps},
                      {"rope_theta", c.rope_theta},
                      {"tie_word_embeddings", c.tie_word_embeddings},
                      {"hidden_act", "silu"},
                      {"bos_token_id", c.bos_token_id},
                      {"eos_token_id", c.eos_token_ids}};
  return j.dump(2);
}

std::vector<TestTensor> SyntheticTensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim,
                kv = int64_t{c.num_kv_heads} * c.head_dim, in = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {
      {"model.embed_tokens.weight", {c.vocab_size, h}}};
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    specs.push_back({p + "input_layernorm.weight", {h}});
    specs.push_back({p + "self_attn.q_proj.weight", {q, h}});
    specs.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    specs.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    specs.push_back({p + "self_attn.o_proj.weight", {h, q}});
    specs.push_back({p + "post_attention_layernorm.weight", {h}});
    specs.push_back({p + "mlp.gate_proj.weight", {in, h}});
    specs.push_back({p + "mlp.up_proj.weight", {in, h}});
    specs.push_back({p + "mlp.down_proj.weight", {h, in}});
  }
  specs.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, h}});
  std::vector<TestTensor> out;
  for (auto& [name, shape] : specs) out.push_back({name, shape, SyntheticTensor(name, shape)});
  return out;
}

void WriteModelDir(const std::string& dir, const ModelConfig& config,
                   const std::vector<TestTensor>& tensors, DType dtype, int num_shards) {
  WriteFile(dir + "/config.json", ConfigJson(config));
  if (num_shards == 1) {
    WriteFile(dir + "/model.safetensors", SafetensorsBytes(tensors, dtype));
    return;
  }
  nlohmann::json map = nlohmann::json::object();
  for (int s = 0; s < num_shards; ++s) {
    std::vector<TestTensor> part;
    const std::string file =
        absl::StrFormat("model-%05d-of-%05d.safetensors", s + 1, num_shards);
    for (size_t i = s; i < tensors.size(); i += num_shards) {
      part.push_back(tensors[i]);
      map[tensors[i].name] = file;
    }
    WriteFile(dir + "/" + file, SafetensorsBytes(part, dtype));
  }
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
  WriteFile(dir + "/model.safetensors.index.json", index.dump(2));
}

ModelConfig SmallConfig(int num_heads, int num_kv_heads, bool tied) {
  ModelConfig c;
  c.vocab_size = 300;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 2;
  c.num_heads = num_heads;
  c.num_kv_heads = num_kv_heads;
  c.head_dim = 8;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = tied;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

}  // namespace pdserve::decoder::testing
