// Tests of the kernel family choice.
#include "base/kernel_family.h"

#include "gtest/gtest.h"

namespace pdserve {
namespace {

TEST(KernelFamilyTest, AutoPicksTheBestAvailable) {
  absl::StatusOr<KernelFamily> best = ChooseKernelFamily("");
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(*ChooseKernelFamily("auto"), *best);
  EXPECT_TRUE(KernelFamilyAvailable(*best));
  for (KernelFamily f : {KernelFamily::kAvx512, KernelFamily::kAvx2}) {
    if (f > *best) {
      EXPECT_FALSE(KernelFamilyAvailable(f)) << KernelFamilyName(f);
    }
  }
}

TEST(KernelFamilyTest, PortableIsAlwaysAvailable) {
  EXPECT_TRUE(KernelFamilyAvailable(KernelFamily::kPortable));
  EXPECT_EQ(*ChooseKernelFamily("portable"), KernelFamily::kPortable);
}

TEST(KernelFamilyTest, NamedFamilyIsChosenOrRefusedWithWhatIsMissing) {
  for (KernelFamily f : {KernelFamily::kAvx2, KernelFamily::kAvx512}) {
    absl::StatusOr<KernelFamily> got = ChooseKernelFamily(KernelFamilyName(f));
    if (KernelFamilyAvailable(f)) {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, f);
    } else {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_NE(got.status().message().find(KernelFamilyName(f)), absl::string_view::npos)
          << got.status();
    }
  }
}

TEST(KernelFamilyTest, UnknownNameIsInvalidArgumentNamingIt) {
  absl::StatusOr<KernelFamily> got = ChooseKernelFamily("avx1024");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("'avx1024'"), absl::string_view::npos) << got.status();
  // A huge value is not echoed whole.
  got = ChooseKernelFamily(std::string(100000, 'x'));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(got.status().message().size(), 200u);
}

TEST(KernelFamilyTest, NamesAndSummary) {
  EXPECT_EQ(KernelFamilyName(KernelFamily::kPortable), "portable");
  EXPECT_EQ(KernelFamilyName(KernelFamily::kAvx2), "avx2");
  EXPECT_EQ(KernelFamilyName(KernelFamily::kAvx512), "avx512");
  EXPECT_FALSE(CpuFeatureSummary().empty());
}

}  // namespace
}  // namespace pdserve
