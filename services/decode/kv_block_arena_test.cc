// KvBlockArena: slots of the requested size, distinct while held, reused once dropped, chunks on
// 2 MiB boundaries.
#include "services/decode/kv_block_arena.h"

#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace pdserve::decode {
namespace {

TEST(KvBlockArenaTest, SlotsAreDistinctWritableAndReusedAfterRelease) {
  const size_t slot_floats = 16 * 6144;  // a 16-token block of synthetic:bench: 384 KiB
  KvBlockArena arena(slot_floats);
  std::vector<std::shared_ptr<float>> held;
  std::set<float*> seen;
  for (int i = 0; i < 50; ++i) {
    held.push_back(arena.Allocate());
    float* p = held.back().get();
    EXPECT_TRUE(seen.insert(p).second) << "slot handed out twice";
    for (size_t j = 0; j < slot_floats; ++j) p[j] = static_cast<float>(i);
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(held[i].get()[0], static_cast<float>(i));
    EXPECT_EQ(held[i].get()[slot_floats - 1], static_cast<float>(i)) << "slots overlap";
  }
  EXPECT_EQ(arena.slots_in_use(), 50u);
  const size_t total = arena.slots_total();
  EXPECT_GE(total, 50u);

  float* released = held[7].get();
  held[7].reset();
  EXPECT_EQ(arena.slots_in_use(), 49u);
  std::shared_ptr<float> again = arena.Allocate();
  EXPECT_EQ(again.get(), released) << "a dropped slot is reused before the arena grows";
  EXPECT_EQ(arena.slots_total(), total);
  held.clear();
  again.reset();
  EXPECT_EQ(arena.slots_in_use(), 0u);
}

TEST(KvBlockArenaTest, ChunksStartOnHugePageBoundaries) {
  KvBlockArena arena(1 << 16);  // 256 KiB slots, 32 per 8 MiB chunk
  std::shared_ptr<float> first = arena.Allocate();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first.get()) % (uintptr_t{2} << 20), 0u);
  EXPECT_EQ(arena.slots_total(), 32u);
}

}  // namespace
}  // namespace pdserve::decode
