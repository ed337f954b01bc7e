// Checks the model against a naive double-precision Llama forward written from the HF
// definition, for GQA/MQA/MHA and tied/untied heads, loading crafted checkpoints.
#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "decoder/model.h"
#include "decoder/test_util.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

using testing::TestTensor;

class NaiveLlama {
 public:
  NaiveLlama(const ModelConfig& c, const std::vector<TestTensor>& tensors) : c_(c) {
    for (const TestTensor& t : tensors) w_[t.name] = t.values;
  }

  // Logits of the last token of `tokens`.
  std::vector<double> Logits(const std::vector<int32_t>& tokens) const {
    const int h = c_.hidden_size, d = c_.head_dim, nh = c_.num_heads, nkv = c_.num_kv_heads;
    const int n = static_cast<int>(tokens.size());
    std::vector<std::vector<double>> x(n);
    for (int t = 0; t < n; ++t) {
      const auto& e = W("model.embed_tokens.weight");
      x[t].assign(e.begin() + int64_t{tokens[t]} * h, e.begin() + int64_t{tokens[t] + 1} * h);
    }
    for (int l = 0; l < c_.num_layers; ++l) {
      const std::string p = absl::StrCat("model.layers.", l, ".");
      std::vector<std::vector<double>> q(n), k(n), v(n);
      for (int t = 0; t < n; ++t) {
        const auto xn = Norm(x[t], W(p + "input_layernorm.weight"));
        q[t] = MatVec(W(p + "self_attn.q_proj.weight"), xn, nh * d);
        k[t] = MatVec(W(p + "self_attn.k_proj.weight"), xn, nkv * d);
        v[t] = MatVec(W(p + "self_attn.v_proj.weight"), xn, nkv * d);
        Rope(&q[t], t, nh);
        Rope(&k[t], t, nkv);
      }
      for (int t = 0; t < n; ++t) {
        std::vector<double> attn(nh * d, 0.0);
        for (int hd = 0; hd < nh; ++hd) {
          const int kvh = hd / (nh / nkv);
          std::vector<double> s(t + 1);
          double mx = -1e300;
          for (int j = 0; j <= t; ++j) {
            double dot = 0;
            for (int i = 0; i < d; ++i) dot += q[t][hd * d + i] * k[j][kvh * d + i];
            s[j] = dot / std::sqrt(double(d));
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (int j = 0; j <= t; ++j) sum += (s[j] = std::exp(s[j] - mx));
          for (int j = 0; j <= t; ++j) {
            for (int i = 0; i < d; ++i) attn[hd * d + i] += s[j] / sum * v[j][kvh * d + i];
          }
        }
        const auto o = MatVec(W(p + "self_attn.o_proj.weight"), attn, h);
        for (int i = 0; i < h; ++i) x[t][i] += o[i];
        const auto xn = Norm(x[t], W(p + "post_attention_layernorm.weight"));
        const auto g = MatVec(W(p + "mlp.gate_proj.weight"), xn, c_.intermediate_size);
        const auto u = MatVec(W(p + "mlp.up_proj.weight"), xn, c_.intermediate_size);
        std::vector<double> a(c_.intermediate_size);
        for (int i = 0; i < c_.intermediate_size; ++i) a[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
        const auto down = MatVec(W(p + "mlp.down_proj.weight"), a, h);
        for (int i = 0; i < h; ++i) x[t][i] += down[i];
      }
    }
    const auto xn = Norm(x[n - 1], W("model.norm.weight"));
    return MatVec(W(c_.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"), xn,
                  c_.vocab_size);
  }

 private:
  const std::vector<float>& W(const std::string& name) const { return w_.at(name); }

  static std::vector<double> MatVec(const std::vector<float>& w, const std::vector<double>& x,
                                    int rows) {
    const size_t cols = x.size();
    std::vector<double> y(rows, 0.0);
    for (int r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
    }
    return y;
  }

  std::vector<double> Norm(const std::vector<double>& x, const std::vector<float>& w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / x.size() + c_.rms_norm_eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
    return y;
  }

  void Rope(std::vector<double>* x, int pos, int heads) const {
    const int d = c_.head_dim, half = d / 2;
    for (int hd = 0; hd < heads; ++hd) {
      double* v = x->data() + hd * d;
      for (int i = 0; i < half; ++i) {
        const double a = pos / std::pow(c_.rope_theta, 2.0 * i / d);
        const double x1 = v[i], x2 = v[i + half];
        v[i] = x1 * std::cos(a) - x2 * std::sin(a);
        v[i + half] = x2 * std::cos(a) + x1 * std::sin(a);
      }
    }
  }

  ModelConfig c_;
  std::map<std::string, std::vector<float>> w_;
};

struct Variant {
  int heads, kv_heads;
  bool tied;
};

class ReferenceTest : public ::testing::TestWithParam<Variant> {};

TEST_P(ReferenceTest, PrefillLogitsMatchNaiveForward) {
  const Variant v = GetParam();
  const ModelConfig config = testing::SmallConfig(v.heads, v.kv_heads, v.tied);
  const auto tensors = testing::SyntheticTensors(config);
  testing::TempDir dir;
  testing::WriteModelDir(dir.path(), config, tensors, DType::kF32, 1);
  auto model = Model::Load(dir.path());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().tie_word_embeddings, v.tied);
  NaiveLlama naive(config, tensors);
  const std::vector<int32_t> tokens = {1, 17, 250, 3, 99, 42, 42, 7, 280, 5, 64, 128, 200, 11,
                                       13, 19, 23, 29, 31, 37};
  const auto expected = naive.Logits(tokens);
  std::vector<float> kv(tokens.size() * (*model)->kv_layout().TokenFloats());
  std::vector<float> logits(config.vocab_size);
  ASSERT_TRUE((*model)->Prefill({}, tokens, absl::MakeSpan(kv), [](int) {}, absl::MakeSpan(logits)).ok());
  double max_abs = 0;
  for (double e : expected) max_abs = std::max(max_abs, std::abs(e));
  for (int i = 0; i < config.vocab_size; ++i) {
    ASSERT_NEAR(logits[i], expected[i], 1e-4 * max_abs) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, ReferenceTest,
                         ::testing::Values(Variant{4, 2, false}, Variant{4, 1, false},
                                           Variant{4, 4, false}, Variant{4, 2, true},
                                           Variant{6, 3, true}));

}  // namespace
}  // namespace pdserve::decoder
