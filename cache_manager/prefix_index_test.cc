// Tests of PrefixIndex lookups, including forged hash collisions.
#include "cache_manager/prefix_index.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace pdserve::cache_manager::internal {
namespace {

Namespace MakeNamespace(std::string name) {
  Namespace ns;
  ns.name = std::move(name);
  return ns;
}

class PrefixIndexTest : public ::testing::Test {
 protected:
  // A sealed block for tokens after `parent` (nullptr for the first block).
  Block* Sealed(const Namespace& ns, const Block* parent, std::vector<int32_t> tokens) {
    blocks_.push_back(std::make_unique<Block>());
    Block* b = blocks_.back().get();
    b->ns = &ns;
    b->uid = next_uid_++;
    b->parent_uid = parent == nullptr ? 0 : parent->uid;
    b->key = ComputeBlockKey(parent == nullptr ? kRootBlockKey : parent->key, tokens, ns.name);
    b->token_ids = std::move(tokens);
    return b;
  }

  Namespace ns_ = MakeNamespace("m");
  Namespace other_ns_ = MakeNamespace("n");
  PrefixIndex index_;
  std::vector<std::unique_ptr<Block>> blocks_;
  uint64_t next_uid_ = 1;
};

TEST_F(PrefixIndexTest, MatchesTheLongestChain) {
  Block* a = Sealed(ns_, nullptr, {1, 2});
  Block* b = Sealed(ns_, a, {3, 4});
  index_.Insert(a);
  index_.Insert(b);
  EXPECT_TRUE(a->indexed);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7};
  const std::vector<BlockKey> keys = ComputeKeyChain(prompt, 2, "m");
  EXPECT_EQ(index_.MatchPrefix(&ns_, prompt, 2, keys), (std::vector<Block*>{a, b}));
  const std::vector<int32_t> diverging = {1, 2, 9, 9};
  EXPECT_EQ(index_.MatchPrefix(&ns_, diverging, 2, ComputeKeyChain(diverging, 2, "m")),
            (std::vector<Block*>{a}));
  EXPECT_TRUE(index_.MatchPrefix(&other_ns_, prompt, 2, ComputeKeyChain(prompt, 2, "n")).empty());
}

TEST_F(PrefixIndexTest, ForgedCollisionNeverMatches) {
  Block* a = Sealed(ns_, nullptr, {1, 2});
  index_.Insert(a);
  // Same key, different tokens, namespace or parent: each must miss.
  EXPECT_EQ(index_.Find(a->key, &ns_, 0, std::vector<int32_t>{1, 2}), a);
  EXPECT_EQ(index_.Find(a->key, &ns_, 0, std::vector<int32_t>{1, 3}), nullptr);
  EXPECT_EQ(index_.Find(a->key, &ns_, 0, std::vector<int32_t>{1}), nullptr);
  EXPECT_EQ(index_.Find(a->key, &other_ns_, 0, std::vector<int32_t>{1, 2}), nullptr);
  EXPECT_EQ(index_.Find(a->key, &ns_, 77, std::vector<int32_t>{1, 2}), nullptr);
  EXPECT_EQ(index_.FindKey(a->key), a);
}

TEST_F(PrefixIndexTest, ChildOfAReplacedParentIsUnreachable) {
  Block* a = Sealed(ns_, nullptr, {1, 2});
  Block* b = Sealed(ns_, a, {3, 4});
  index_.Insert(a);
  index_.Insert(b);
  index_.Erase(a);  // evicted
  EXPECT_FALSE(a->indexed);
  Block* a2 = Sealed(ns_, nullptr, {1, 2});  // same content, new uid
  index_.Insert(a2);
  const std::vector<int32_t> prompt = {1, 2, 3, 4};
  // b's parent uid names the evicted block, so the chain stops at a2.
  EXPECT_EQ(index_.MatchPrefix(&ns_, prompt, 2, ComputeKeyChain(prompt, 2, "m")),
            (std::vector<Block*>{a2}));
}

TEST_F(PrefixIndexTest, EraseOnlyRemovesTheIndexedBlock) {
  Block* a = Sealed(ns_, nullptr, {1, 2});
  Block* dup = Sealed(ns_, nullptr, {1, 2});
  index_.Insert(a);
  index_.Erase(dup);
  EXPECT_EQ(index_.FindKey(a->key), a);
  EXPECT_EQ(index_.size(), 1u);
  EXPECT_GT(index_.overhead_bytes(), 0u);
}

}  // namespace
}  // namespace pdserve::cache_manager::internal
