// Tests of BlockPool accounting, reference counting and LRU eviction.
#include "cache_manager/block_pool.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pdserve::cache_manager::internal {
namespace {

using ::testing::HasSubstr;

Namespace MakeNamespace(std::string name, uint64_t block_bytes) {
  Namespace ns;
  ns.name = std::move(name);
  ns.layout = KvLayout{1, 1, 2, DType::kF32};
  ns.token_bytes = ns.layout.TokenBytes();
  ns.block_bytes = block_bytes;
  return ns;
}

class BlockPoolTest : public ::testing::Test {
 protected:
  // Allocates one block and turns it into a cached (indexed, full, unreferenced) block.
  Block* AddCached(const Namespace& ns) {
    std::vector<Block*> out;
    EXPECT_TRUE(pool_.Allocate(ns, 1, [](Block*) {}, &out, &garbage_).ok());
    Block* b = out[0];
    b->indexed = true;
    pool_.SetState(b, BlockState::kPinned);
    pool_.Unref(b, &garbage_);
    return b;
  }

  Namespace ns_ = MakeNamespace("m", 100);
  BlockPool pool_{1000, 4};
  std::vector<BlockBuffer> garbage_;
};

TEST_F(BlockPoolTest, AllocateAccountsExactly) {
  std::vector<Block*> out;
  ASSERT_TRUE(pool_.Allocate(ns_, 3, [](Block*) {}, &out, &garbage_).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(pool_.used_bytes(), 300u);
  EXPECT_EQ(pool_.free_bytes(), 700u);
  EXPECT_EQ(pool_.num_blocks(), 3u);
  EXPECT_EQ(pool_.count(BlockState::kInFlight), 3u);
  EXPECT_NE(out[0]->uid, out[1]->uid);
  EXPECT_EQ(out[0]->refs, 1);
  EXPECT_GT(pool_.overhead_bytes(), 0u);
  pool_.SetValidTokens(out[0], 2);
  EXPECT_EQ(pool_.valid_bytes(), 2 * ns_.token_bytes);
  for (Block* b : out) pool_.Unref(b, &garbage_);  // unindexed: freed
  EXPECT_EQ(pool_.used_bytes(), 0u);
  EXPECT_EQ(pool_.valid_bytes(), 0u);
  EXPECT_EQ(pool_.num_blocks(), 0u);
  EXPECT_EQ(garbage_.size(), 3u);
}

TEST_F(BlockPoolTest, ExhaustedWhenPinnedChangesNothing) {
  std::vector<Block*> out;
  ASSERT_TRUE(pool_.Allocate(ns_, 9, [](Block*) {}, &out, &garbage_).ok());
  AddCached(ns_);  // 1000 used, 100 of them evictable
  std::vector<Block*> more;
  absl::Status s = pool_.Allocate(ns_, 2, [](Block*) {}, &more, &garbage_);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("need 200 bytes"));
  EXPECT_THAT(s.message(), HasSubstr("capacity 1000"));
  EXPECT_THAT(s.message(), HasSubstr("pinned 900"));
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(pool_.used_bytes(), 1000u);
  EXPECT_EQ(pool_.count(BlockState::kCached), 1u);
  EXPECT_EQ(pool_.evictions(), 0u);
  // A count whose byte size overflows is refused, not wrapped.
  s = pool_.Allocate(ns_, uint64_t{1} << 62, [](Block*) {}, &more, &garbage_);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(BlockPoolTest, EvictsLeastRecentlyUsedFirstAndReusesBuffers) {
  std::vector<Block*> cached;
  for (int i = 0; i < 10; ++i) cached.push_back(AddCached(ns_));
  EXPECT_EQ(pool_.cached_bytes(), 1000u);
  EXPECT_EQ(pool_.LruOldestForTest(), cached[0]);
  // Using block 0 again moves it to the newest end when it is unreferenced again.
  pool_.Ref(cached[0]);
  EXPECT_EQ(pool_.count(BlockState::kPinned), 1u);
  pool_.Unref(cached[0], &garbage_);
  EXPECT_EQ(pool_.LruOldestForTest(), cached[1]);

  std::vector<const Block*> evicted;
  std::vector<Block*> out;
  garbage_.clear();
  ASSERT_TRUE(pool_.Allocate(ns_, 2, [&](Block* b) { evicted.push_back(b); }, &out, &garbage_)
                  .ok());
  EXPECT_THAT(evicted, ::testing::ElementsAre(cached[1], cached[2]));
  EXPECT_EQ(pool_.evictions(), 2u);
  EXPECT_TRUE(garbage_.empty());  // same-size buffers were reused
  EXPECT_EQ(pool_.used_bytes(), 1000u);
  EXPECT_EQ(pool_.cached_bytes(), 800u);
}

TEST_F(BlockPoolTest, EvictsAcrossNamespacesOfDifferentSizes) {
  Namespace big = MakeNamespace("big", 300);
  for (int i = 0; i < 10; ++i) AddCached(ns_);
  std::vector<Block*> out;
  ASSERT_TRUE(pool_.Allocate(big, 1, [](Block*) {}, &out, &garbage_).ok());
  EXPECT_EQ(pool_.evictions(), 3u);
  EXPECT_EQ(garbage_.size(), 3u);  // other-size buffers are freed, not reused
  EXPECT_EQ(pool_.used_bytes(), 1000u);
}

}  // namespace
}  // namespace pdserve::cache_manager::internal
