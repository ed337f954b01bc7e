// Tests of config.json parsing and validation.
#include "decoder/config.h"

#include "absl/strings/match.h"
#include "decoder/synthetic.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

constexpr char kLlama[] = R"({
  "architectures": ["LlamaForCausalLM"], "hidden_act": "silu", "hidden_size": 2048,
  "intermediate_size": 8192, "max_position_embeddings": 131072, "num_attention_heads": 32,
  "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "vocab_size": 128256,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})";

TEST(ConfigTest, ParsesLlamaConfig) {
  auto c = ParseConfigJson(kLlama, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hidden_size, 2048);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.kind, "llama3");
  EXPECT_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->eos_token_ids, std::vector<int32_t>({128001, 128008, 128009}));
}

TEST(ConfigTest, DefaultsKvHeadsToHeads) {
  auto c = ParseConfigJson(R"({"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
      "num_hidden_layers": 1, "num_attention_heads": 4, "eos_token_id": 2})", "c.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->eos_token_ids, std::vector<int32_t>({2}));
}

TEST(ConfigTest, Errors) {
  struct Case {
    const char* json;
    const char* needle;
  } cases[] = {
      {"{", "invalid JSON"},
      {R"({"hidden_size": 32})", "vocab_size"},
      {R"({"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
          "num_attention_heads": 4, "num_key_value_heads": 3})", "not divisible"},
      {R"({"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
          "num_attention_heads": 8})", "head_dim"},
      {R"({"vocab_size": 300, "hidden_size": 1024, "intermediate_size": 64,
          "num_hidden_layers": 1, "num_attention_heads": 2})", "head_dim (512)"},
      {R"({"vocab_size": "x", "hidden_size": 32})", "vocab_size"},
      {R"({"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
          "num_attention_heads": 4, "eos_token_id": 999})", "eos_token_id"},
  };
  for (const Case& c : cases) {
    auto r = ParseConfigJson(c.json, "cfg.json");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.needle)) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "cfg.json")) << r.status();
  }
  auto r = ParseConfigJson(R"({"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
      "num_hidden_layers": 1, "num_attention_heads": 4, "rope_scaling": {"rope_type": "yarn"}})",
                           "cfg.json");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ConfigTest, SyntheticConfigs) {
  auto tiny = SyntheticConfig("synthetic:tiny");
  ASSERT_TRUE(tiny.ok());
  EXPECT_TRUE(ValidateConfig(*tiny).ok());
  auto bench = SyntheticConfig("synthetic:bench");
  ASSERT_TRUE(bench.ok());
  EXPECT_EQ(bench->num_layers, 12);
  EXPECT_EQ(bench->hidden_size, 768);
  EXPECT_EQ(bench->vocab_size, 32000);
  EXPECT_NEAR(bench->NumParameters(), 124e6, 2e6);
  EXPECT_EQ(SyntheticConfig("synthetic:x").status().code(), absl::StatusCode::kNotFound);
}

TEST(SyntheticTest, TensorsAreDeterministic) {
  const auto a = SyntheticTensor("model.layers.0.mlp.up_proj.weight", {4, 8});
  EXPECT_EQ(a, SyntheticTensor("model.layers.0.mlp.up_proj.weight", {4, 8}));
  EXPECT_NE(a, SyntheticTensor("model.layers.1.mlp.up_proj.weight", {4, 8}));
  // Pinned values: the generator must not change across machines or releases.
  EXPECT_EQ(SyntheticTensor("x", {1, 3}),
            std::vector<float>({-0x1.31f678p-1f, 0x1.3bee7p-1f, 0x1.2586d8p-2f}));
}

}  // namespace
}  // namespace pdserve::decoder
