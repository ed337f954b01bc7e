// Tests of the elementwise kernels.
#include "decoder/ops.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace pdserve::decoder::internal {
namespace {

TEST(OpsTest, ExpIsAccurate) {
  std::vector<float> x;
  for (float v = -87.0f; v < 88.0f; v += 0.137f) x.push_back(v);
  std::vector<float> out(x.size());
  Exp(x.data(), static_cast<int64_t>(x.size()), out.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(out[i] / std::exp(x[i]), 1.0, 1e-6) << x[i];
  const float tiny[3] = {-std::numeric_limits<float>::infinity(), -200.0f, 0.0f};
  float e[3];
  Exp(tiny, 3, e);
  EXPECT_EQ(e[0], 0.0f);
  EXPECT_EQ(e[1], 0.0f);
  EXPECT_EQ(e[2], 1.0f);
}

TEST(OpsTest, RmsNormMatchesDefinition) {
  float x[13], w[13], out[13];
  double ss = 0;
  for (int i = 0; i < 13; ++i) {
    x[i] = 0.3f * i - 1.5f;
    w[i] = 1.0f + 0.01f * i;
    ss += double{x[i]} * x[i];
  }
  RmsNorm(x, w, 13, 1e-5f, out);
  const double inv = 1.0 / std::sqrt(ss / 13 + 1e-5);
  for (int i = 0; i < 13; ++i) EXPECT_NEAR(out[i], x[i] * inv * w[i], 1e-5);
}

TEST(OpsTest, SwiGluMatchesDefinition) {
  float g[11], u[11], out[11];
  for (int i = 0; i < 11; ++i) {
    g[i] = 0.7f * i - 4.0f;
    u[i] = 0.5f - 0.1f * i;
  }
  SwiGlu(g, u, 11, out);
  for (int i = 0; i < 11; ++i) {
    EXPECT_NEAR(out[i], g[i] / (1 + std::exp(-double{g[i]})) * u[i], 1e-5);
  }
}

TEST(OpsTest, RopeRotatesHalvesLikeHuggingFace) {
  ModelConfig c;
  c.head_dim = 8;
  c.rope_theta = 10000.0;
  Rope rope(c);
  float cs[8];
  rope.Angles(3, cs);
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  rope.Apply(cs, 1, x);
  for (int i = 0; i < 4; ++i) {
    const double a = 3.0 / std::pow(10000.0, 2.0 * i / 8);
    const double x1 = i + 1, x2 = i + 5;
    EXPECT_NEAR(x[i], x1 * std::cos(a) - x2 * std::sin(a), 1e-5);
    EXPECT_NEAR(x[i + 4], x2 * std::cos(a) + x1 * std::sin(a), 1e-5);
  }
}

}  // namespace
}  // namespace pdserve::decoder::internal
