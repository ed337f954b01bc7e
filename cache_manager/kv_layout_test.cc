// Tests of KvLayout sizes and validation.
#include "cache_manager/kv_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pdserve::cache_manager {
namespace {

using ::testing::HasSubstr;

TEST(KvLayoutTest, ByteSizes) {
  KvLayout bench{12, 4, 64, DType::kF32};
  EXPECT_EQ(bench.LayerBytes(), 2u * 4 * 64 * 4);
  EXPECT_EQ(bench.TokenBytes(), 12u * 2 * 4 * 64 * 4);
  KvLayout half{2, 1, 8, DType::kBF16};
  EXPECT_EQ(half.TokenBytes(), 2u * 2 * 1 * 8 * 2);
  EXPECT_EQ(DTypeBytes(DType::kF16), 2u);
}

TEST(KvLayoutTest, ValidateNamesTheField) {
  EXPECT_TRUE((KvLayout{12, 4, 64, DType::kF32}).Validate().ok());
  absl::Status s = (KvLayout{0, 4, 64, DType::kF32}).Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("layout.num_layers is 0"));
  EXPECT_THAT((KvLayout{1, 1025, 64, DType::kF32}).Validate().message(),
              HasSubstr("num_kv_heads is 1025"));
  EXPECT_THAT((KvLayout{1, 1, 4097, DType::kF32}).Validate().message(), HasSubstr("head_dim"));
  EXPECT_THAT((KvLayout{1, 1, 1, DType::kUnspecified}).Validate().message(),
              HasSubstr("dtype is UNSPECIFIED"));
}

TEST(KvLayoutTest, ToStringAndEquality) {
  KvLayout a{12, 4, 64, DType::kF32};
  EXPECT_EQ(a.ToString(), "{num_layers=12, num_kv_heads=4, head_dim=64, dtype=F32}");
  KvLayout b = a;
  EXPECT_EQ(a, b);
  b.dtype = DType::kF16;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace pdserve::cache_manager
