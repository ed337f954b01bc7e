// Tests of the block hash chain.
#include "cache_manager/block_key.h"

#include <vector>

#include "gtest/gtest.h"

namespace pdserve::cache_manager {
namespace {

TEST(BlockKeyTest, DeterministicAndSensitiveToEveryInput) {
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  const BlockKey a = ComputeBlockKey(kRootBlockKey, tokens, "m");
  EXPECT_EQ(a, ComputeBlockKey(kRootBlockKey, tokens, "m"));
  EXPECT_NE(a, ComputeBlockKey(kRootBlockKey, tokens, "n"));
  EXPECT_NE(a, ComputeBlockKey(BlockKey{0, 1}, tokens, "m"));
  EXPECT_NE(a, ComputeBlockKey(kRootBlockKey, std::vector<int32_t>{1, 2, 3, 5}, "m"));
  EXPECT_NE(a, kRootBlockKey);
  // Token ids and namespace bytes cannot be traded for one another.
  EXPECT_NE(ComputeBlockKey(kRootBlockKey, std::vector<int32_t>{0x41}, ""),
            ComputeBlockKey(kRootBlockKey, std::vector<int32_t>{}, "A\0\0\0"));
  EXPECT_EQ(a.ToString().size(), 32u);
}

TEST(BlockKeyTest, ChainCoversWholeBlocksAndDependsOnThePrefix) {
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7};
  const std::vector<BlockKey> keys = ComputeKeyChain(tokens, 2, "m");
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], ComputeBlockKey(kRootBlockKey, std::vector<int32_t>{1, 2}, "m"));
  EXPECT_EQ(keys[1], ComputeBlockKey(keys[0], std::vector<int32_t>{3, 4}, "m"));
  EXPECT_EQ(keys[2], ComputeBlockKey(keys[1], std::vector<int32_t>{5, 6}, "m"));
  // Same second block after a different first block: different key.
  const std::vector<BlockKey> other = ComputeKeyChain(std::vector<int32_t>{9, 9, 3, 4}, 2, "m");
  EXPECT_NE(other[1], keys[1]);
  EXPECT_TRUE(ComputeKeyChain(std::vector<int32_t>{1}, 2, "m").empty());
}

}  // namespace
}  // namespace pdserve::cache_manager
