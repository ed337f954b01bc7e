// Every kernel family available here against the portable one: the same inputs give the same
// bits (the families share one kernel source and the portable vector type emulates x86's lanes
// exactly), so the tokens never depend on the CPU a server runs on. A family this CPU cannot run
// is reported skipped with the reason.
#include "decoder/kernels.h"

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "decoder/ops.h"
#include "gtest/gtest.h"

namespace pdserve::decoder::internal {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Bitwise equality, so that NaNs and signed zeros count too.
void ExpectSameBits(const std::vector<float>& want, const std::vector<float>& got,
                    const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &want[i], 4);
    std::memcpy(&b, &got[i], 4);
    ASSERT_EQ(a, b) << what << " element " << i << ": " << want[i] << " vs " << got[i];
  }
}

class KernelFamilyTest : public ::testing::TestWithParam<KernelFamily> {
 protected:
  void SetUp() override {
    table_ = KernelTableFor(GetParam());
    if (table_ == nullptr) {
      GTEST_SKIP() << "kernel family " << KernelFamilyName(GetParam())
                   << " is not available on this CPU (it has: " << CpuFeatureSummary() << ")";
    }
    portable_ = KernelTableFor(KernelFamily::kPortable);
    ASSERT_NE(portable_, nullptr);
    ASSERT_EQ(table_->family, GetParam());
  }
  const KernelTable* table_ = nullptr;
  const KernelTable* portable_ = nullptr;
};

TEST_P(KernelFamilyTest, ElementwiseKernelsMatchPortable) {
  for (int64_t n : {1, 7, 8, 37, 768}) {
    const std::vector<float> x = Random(n, 1, 3.0f), w = Random(n, 2), u = Random(n, 3);
    std::vector<float> a(n), b(n);
    portable_->rms_norm(x.data(), w.data(), n, 1e-5f, a.data());
    table_->rms_norm(x.data(), w.data(), n, 1e-5f, b.data());
    ExpectSameBits(a, b, absl::StrCat("rms_norm n=", n));
    portable_->swiglu(x.data(), u.data(), n, a.data());
    table_->swiglu(x.data(), u.data(), n, b.data());
    ExpectSameBits(a, b, absl::StrCat("swiglu n=", n));
    std::vector<float> e = Random(n, 4, 40.0f);
    e[0] = -std::numeric_limits<float>::infinity();
    portable_->exp(e.data(), n, a.data());
    table_->exp(e.data(), n, b.data());
    ExpectSameBits(a, b, absl::StrCat("exp n=", n));
    a = x;
    b = x;
    portable_->add_in_place(u.data(), n, a.data());
    table_->add_in_place(u.data(), n, b.data());
    ExpectSameBits(a, b, absl::StrCat("add_in_place n=", n));
  }
}

TEST_P(KernelFamilyTest, MatMulMatchesPortable) {
  // Few rows (decode) and many rows (prefill's blocked path), a partial last panel and an inner
  // dimension past one k block.
  constexpr int64_t kIn = 300, kOut = 70;
  const PackedLinear w(Random(kOut * kIn, 5), kOut, kIn);
  for (int64_t m : {1, 2, 5, 16, 39, 40, 150}) {
    const std::vector<float> x = Random(m * kIn, 6);
    std::vector<float> a(m * kOut), b(m * kOut);
    portable_->matmul_panels(w, x.data(), m, kIn, a.data(), kOut, 0, w.num_panels());
    table_->matmul_panels(w, x.data(), m, kIn, b.data(), kOut, 0, w.num_panels());
    ExpectSameBits(a, b, absl::StrCat("matmul m=", m));
  }
}

TEST_P(KernelFamilyTest, AttentionMatchesPortable) {
  // head_dim 40 leaves a partial 32-float tile; group 5 mixes head tiles of 3 and 2; three
  // queries end in different chunks of the second segment.
  const KvLayout layout{2, 2, 40};
  constexpr int kGroup = 5;
  constexpr int64_t kTokens = 300;
  const std::vector<float> kv = Random(kTokens * layout.TokenFloats(), 7);
  const KvSource src{KvView(), kv.data(), kTokens};
  const int heads = layout.num_kv_heads * kGroup;
  const std::vector<float> q = Random(3 * heads * layout.head_dim, 8, 2.0f);
  auto run = [&](const KernelTable& k) {
    std::vector<float> out(3 * heads * layout.head_dim);
    std::vector<AttentionQuery> queries;
    const int64_t keys[3] = {300, 257, 271};
    for (int i = 0; i < 3; ++i) {
      queries.push_back({q.data() + i * heads * layout.head_dim, keys[i],
                         out.data() + i * heads * layout.head_dim});
    }
    const int64_t floats = SegmentStateFloats(3, heads, layout.head_dim);
    std::vector<float> s0(floats), s1(floats);
    k.attend_segment(layout, 1, 0, layout.num_kv_heads, kGroup, queries, src, 0.158f, 0,
                     s0.data());
    k.attend_segment(layout, 1, 0, layout.num_kv_heads, kGroup, queries, src, 0.158f, 1,
                     s1.data());
    k.merge_state(s0.data(), s1.data(), 3 * heads, layout.head_dim);
    k.write_outputs(s0.data(), heads, layout.head_dim, queries);
    return out;
  };
  ExpectSameBits(run(*portable_), run(*table_), "attention");
}

INSTANTIATE_TEST_SUITE_P(Families, KernelFamilyTest,
                         ::testing::Values(KernelFamily::kAvx2, KernelFamily::kAvx512),
                         [](const auto& info) { return std::string(KernelFamilyName(info.param)); });

TEST(KernelsTest, ProcessTableIsTheChosenFamily) {
  ASSERT_TRUE(InitKernels().ok()) << InitKernels();
  EXPECT_EQ(Kernels().family, *ProcessKernelFamily());
}

}  // namespace
}  // namespace pdserve::decoder::internal
