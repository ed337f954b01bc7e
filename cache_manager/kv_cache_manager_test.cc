// Tests of KvCacheManager: create, prefix sharing, reads, release, lookup, eviction, leases,
// accounting. The write paths are tested in kv_cache_manager_write_test.cc.
#include "cache_manager/kv_cache_manager.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cache_manager/kv_cache_manager_test_base.h"

namespace pdserve::cache_manager {
namespace {

using ::testing::HasSubstr;
using KvCacheManagerTest = KvCacheManagerTestBase;

TEST_F(KvCacheManagerTest, CreateOptionsAreValidated) {
  KvCacheManagerOptions options;
  options.block_size = 0;
  EXPECT_EQ(KvCacheManager::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.block_size = 16;
  options.capacity_bytes = 0;
  EXPECT_THAT(KvCacheManager::Create(options).status().message(), HasSubstr("capacity_bytes"));
}

TEST_F(KvCacheManagerTest, WriteThenReadRoundTrips) {
  const std::vector<int32_t> prompt = Tokens(10);
  uint64_t cached = 99;
  const std::string id = CreateAndWrite(prompt, &cached);
  EXPECT_EQ(cached, 0u);
  EXPECT_EQ(id.size(), 32u);
  absl::StatusOr<std::vector<std::byte>> bytes = ReadBytes(id);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, testing::KvPattern(prompt, 0, 10, kTokenBytes));
  // From the middle of a block: the whole block is returned.
  absl::StatusOr<std::vector<std::byte>> tail = ReadBytes(id, 9);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, testing::KvPattern(prompt, 8, 10, kTokenBytes));
  absl::StatusOr<SequenceInfo> info = manager_->GetSequence(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_tokens, 10u);
  EXPECT_EQ(info->prompt_tokens, 10u);
  EXPECT_EQ(info->layout, kLayout);
  EXPECT_EQ(info->model_namespace, "m");
}

TEST_F(KvCacheManagerTest, SequenceIdsAreUniqueHex) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(Create(Tokens(3)));
  EXPECT_EQ(ids.size(), 50u);
  for (const std::string& id : ids) {
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  }
}

TEST_F(KvCacheManagerTest, PrefixIsSharedAndLastTokenIsLeftToWrite) {
  const std::vector<int32_t> prompt = Tokens(12);
  const std::string a = CreateAndWrite(prompt);
  const CacheStats before = manager_->Stats();
  EXPECT_EQ(before.blocks_pinned, 3u);

  // Same 12 tokens: whole blocks match, but the last token's block stays uncached.
  uint64_t cached = 0;
  const std::string b = Create(prompt, &cached);
  EXPECT_EQ(cached, 8u);
  // A longer prompt with the same start gets all three blocks.
  std::vector<int32_t> longer = prompt;
  longer.push_back(7);
  uint64_t cached_longer = 0;
  const std::string c = Create(longer, &cached_longer);
  EXPECT_EQ(cached_longer, 12u);
  ASSERT_TRUE(WriteRange(c, longer, 12, 13).ok());
  absl::StatusOr<std::vector<std::byte>> bytes = ReadBytes(c);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, testing::KvPattern(longer, 0, 13, kTokenBytes));
  // Shared blocks are stored once: only c's new partial block was added.
  const CacheStats after = manager_->Stats();
  EXPECT_EQ(after.used_bytes, before.used_bytes + kBlockBytes);
  EXPECT_EQ(after.prefix_lookup_tokens, 12u + 12u + 13u);
  EXPECT_EQ(after.prefix_hit_tokens, 8u + 12u);
  EXPECT_DOUBLE_EQ(after.prefix_hit_ratio, 20.0 / 37.0);
  EXPECT_TRUE(manager_->Release(b).ok());
}

TEST_F(KvCacheManagerTest, IdenticalBlocksWrittenTwiceAreDeduplicated) {
  const std::vector<int32_t> prompt = Tokens(9);
  const std::string a = Create(prompt);
  const std::string b = Create(prompt);  // nothing cached yet
  ASSERT_TRUE(WriteRange(a, prompt, 0, 9).ok());
  ASSERT_TRUE(WriteRange(b, prompt, 0, 9).ok());
  const CacheStats s = manager_->Stats();
  EXPECT_EQ(s.blocks_pinned, 2u);   // the two full blocks, shared
  EXPECT_EQ(s.blocks_partial, 2u);  // each sequence's own tail
  EXPECT_EQ(s.used_bytes, 4 * kBlockBytes);
  absl::StatusOr<std::vector<std::byte>> bytes = ReadBytes(b);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, testing::KvPattern(prompt, 0, 9, kTokenBytes));
}

TEST_F(KvCacheManagerTest, NamespacesNeverShareBlocks) {
  const std::vector<int32_t> prompt = Tokens(9);
  CreateAndWrite(prompt);
  uint64_t cached = 99;
  Create(prompt, &cached, "other");
  EXPECT_EQ(cached, 0u);
  EXPECT_EQ(manager_->Stats().namespaces, 2u);
}

TEST_F(KvCacheManagerTest, LayoutMismatchNamesBothLayouts) {
  Create(Tokens(3));
  KvLayout other = kLayout;
  other.head_dim = 8;
  absl::StatusOr<CreateSequenceResult> r =
      manager_->CreateSequence("m", other, Tokens(3), absl::ZeroDuration());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("head_dim=8"));
  EXPECT_THAT(r.status().message(), HasSubstr("head_dim=4"));
  EXPECT_EQ(manager_->Stats().sequences, 1u);
}

TEST_F(KvCacheManagerTest, CreateRejectsBadInput) {
  auto code = [&](absl::string_view ns, KvLayout layout, std::vector<int32_t> tokens,
                  absl::Duration ttl) {
    return manager_->CreateSequence(ns, layout, tokens, ttl).status();
  };
  EXPECT_THAT(code("", kLayout, Tokens(3), absl::ZeroDuration()).message(),
              HasSubstr("model_namespace"));
  EXPECT_THAT(code("m", KvLayout{}, Tokens(3), absl::ZeroDuration()).message(),
              HasSubstr("layout.num_layers"));
  EXPECT_THAT(code("m", kLayout, {}, absl::ZeroDuration()).message(), HasSubstr("token_ids"));
  EXPECT_THAT(code("m", kLayout, Tokens(1001), absl::ZeroDuration()).message(),
              HasSubstr("1001 tokens"));
  EXPECT_THAT(code("m", kLayout, {1, -2}, absl::ZeroDuration()).message(),
              HasSubstr("token_ids[1] is -2"));
  EXPECT_THAT(code("m", kLayout, Tokens(3), absl::Hours(1)).message(), HasSubstr("lease_ttl"));
  EXPECT_EQ(manager_->Stats().sequences, 0u);
  EXPECT_EQ(manager_->Stats().namespaces, 0u);
}

TEST_F(KvCacheManagerTest, SequenceLimitIsResourceExhausted) {
  for (int i = 0; i < 100; ++i) Create(Tokens(1));
  absl::StatusOr<CreateSequenceResult> r =
      manager_->CreateSequence("m", kLayout, Tokens(1), absl::ZeroDuration());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(KvCacheManagerTest, ReadSkipsHeldBlocksAndRejectsPastTheEnd) {
  const std::vector<int32_t> prompt = Tokens(10);
  const std::string id = CreateAndWrite(prompt);
  absl::StatusOr<ReadSnapshot> all = manager_->Read(id, 0, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->blocks().size(), 3u);
  EXPECT_TRUE(all->blocks()[0].has_key);
  EXPECT_FALSE(all->blocks()[2].has_key);  // partial
  EXPECT_EQ(all->sequence_length(), 10u);
  absl::flat_hash_set<BlockKey> held = {all->blocks()[0].key};
  absl::StatusOr<ReadSnapshot> rest = manager_->Read(id, 0, held);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->blocks().size(), 2u);
  EXPECT_EQ(rest->blocks()[0].block_index, 1u);

  absl::StatusOr<ReadSnapshot> empty = manager_->Read(id, 10, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->blocks().empty());
  absl::StatusOr<ReadSnapshot> past = manager_->Read(id, 11, {});
  EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(past.status().message(), HasSubstr("length 10"));
  EXPECT_EQ(manager_->Read("nope", 0, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KvCacheManagerTest, SnapshotOutlivesReleaseAndEviction) {
  Reset(/*capacity_blocks=*/3);
  const std::vector<int32_t> prompt = Tokens(9);
  const std::string id = CreateAndWrite(prompt);
  absl::StatusOr<ReadSnapshot> snap = manager_->Read(id, 0, {});
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(manager_->Release(id).ok());
  // The snapshot pins all three blocks: nothing is evictable, the pool is full.
  absl::StatusOr<CreateSequenceResult> other =
      manager_->CreateSequence("m", kLayout, Tokens(5, 900), absl::ZeroDuration());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(WriteRange(other->sequence_id, Tokens(5, 900), 0, 5).code(),
            absl::StatusCode::kResourceExhausted);
  std::vector<std::byte> got;
  for (const BlockView& v : snap->blocks()) got.insert(got.end(), v.data.begin(), v.data.end());
  EXPECT_EQ(got, testing::KvPattern(prompt, 0, 9, kTokenBytes));
  *snap = ReadSnapshot();  // unpins: the partial block is freed, full ones cached
  const CacheStats s = manager_->Stats();
  EXPECT_EQ(s.blocks_cached, 2u);
  EXPECT_EQ(s.used_bytes, 2 * kBlockBytes);
  EXPECT_TRUE(WriteRange(other->sequence_id, Tokens(5, 900), 0, 5).ok());
}

TEST_F(KvCacheManagerTest, ReleaseKeepsFullBlocksCached) {
  const std::vector<int32_t> prompt = Tokens(10);
  const std::string id = CreateAndWrite(prompt);
  absl::StatusOr<uint64_t> length = manager_->Release(id);
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(*length, 10u);
  EXPECT_EQ(manager_->Release(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->GetSequence(id).status().code(), absl::StatusCode::kNotFound);
  const CacheStats s = manager_->Stats();
  EXPECT_EQ(s.sequences, 0u);
  EXPECT_EQ(s.blocks_cached, 2u);
  EXPECT_EQ(s.blocks_partial, 0u);
  EXPECT_EQ(s.used_bytes, 2 * kBlockBytes);
  EXPECT_EQ(s.valid_bytes, 8 * kTokenBytes);
  absl::StatusOr<uint64_t> hit = manager_->Lookup("m", prompt);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(*hit, 8u);
}

TEST_F(KvCacheManagerTest, LookupHasNoSideEffects) {
  Reset(/*capacity_blocks=*/3);
  const std::vector<int32_t> a = Tokens(5, 100), b = Tokens(5, 200);
  ASSERT_TRUE(manager_->Release(CreateAndWrite(a)).ok());
  ASSERT_TRUE(manager_->Release(CreateAndWrite(b)).ok());
  const CacheStats before = manager_->Stats();
  // Looking up `a` must not make it more recent than `b`.
  EXPECT_EQ(*manager_->Lookup("m", a), 4u);
  EXPECT_EQ(*manager_->Lookup("unknown", a), 0u);
  EXPECT_EQ(manager_->Lookup("m", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->Lookup("", a).status().code(), absl::StatusCode::kInvalidArgument);
  const CacheStats after = manager_->Stats();
  EXPECT_EQ(after.prefix_lookup_tokens, before.prefix_lookup_tokens);
  const std::vector<int32_t> c = Tokens(5, 300);
  ASSERT_TRUE(manager_->Release(CreateAndWrite(c)).ok());  // evicts the oldest: a's block
  EXPECT_EQ(*manager_->Lookup("m", a), 0u);
  EXPECT_EQ(*manager_->Lookup("m", b), 4u);
}

TEST_F(KvCacheManagerTest, EvictionIsLeastRecentlyUsedAndCounted) {
  Reset(/*capacity_blocks=*/4);
  const std::vector<int32_t> a = Tokens(8, 100), b = Tokens(8, 200);
  ASSERT_TRUE(manager_->Release(CreateAndWrite(a)).ok());  // a0 a1 cached
  ASSERT_TRUE(manager_->Release(CreateAndWrite(b)).ok());  // b0 b1 cached, pool full
  EXPECT_EQ(manager_->Stats().evictions, 0u);
  // Reuse all of a (plus one token): a becomes more recent than b.
  std::vector<int32_t> a_more = a;
  a_more.push_back(5);
  uint64_t cached = 0;
  const std::string a2 = Create(a_more, &cached);
  EXPECT_EQ(cached, 8u);
  ASSERT_TRUE(WriteRange(a2, a_more, 8, 9).ok());  // evicts b1, b's chain tail
  EXPECT_EQ(manager_->Stats().evictions, 1u);
  EXPECT_EQ(*manager_->Lookup("m", b), 4u);
  ASSERT_TRUE(manager_->Release(a2).ok());
  ASSERT_TRUE(manager_->Release(CreateAndWrite(Tokens(5, 300))).ok());  // evicts b0
  EXPECT_EQ(manager_->Stats().evictions, 2u);
  EXPECT_EQ(*manager_->Lookup("m", a), 8u);
  EXPECT_EQ(*manager_->Lookup("m", b), 0u);
}

TEST_F(KvCacheManagerTest, ExhaustedByPinnedSequencesLeavesThemIntact) {
  Reset(/*capacity_blocks=*/4);
  const std::vector<int32_t> a = Tokens(12, 100);
  const std::string ida = CreateAndWrite(a);  // 3 blocks pinned
  const std::vector<int32_t> b = Tokens(8, 200);
  const std::string idb = Create(b);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(idb, 0, 8);
  ASSERT_EQ(w.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(w.status().message(), HasSubstr("need 1024 bytes"));
  EXPECT_THAT(w.status().message(), HasSubstr("capacity 2048"));
  EXPECT_THAT(w.status().message(), HasSubstr("used 1536"));
  EXPECT_THAT(w.status().message(), HasSubstr("pinned 1536"));
  EXPECT_EQ(*ReadBytes(ida), testing::KvPattern(a, 0, 12, kTokenBytes));
  EXPECT_EQ(manager_->Stats().used_bytes, 3 * kBlockBytes);
  // b can still write what fits.
  EXPECT_TRUE(WriteRange(idb, b, 0, 4).ok());
}

TEST_F(KvCacheManagerTest, LeasesExpireWithoutActivity) {
  const std::string idle = CreateAndWrite(Tokens(5, 100));
  const std::string busy = CreateAndWrite(Tokens(5, 200));
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(manager_->Read(busy, 0, {}).ok());  // renews
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(manager_->ReapExpired(), 1);
  EXPECT_EQ(manager_->GetSequence(idle).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager_->GetSequence(busy).ok());
  EXPECT_EQ(manager_->Stats().leases_expired, 1u);
  EXPECT_EQ(manager_->Stats().blocks_cached, 1u);  // idle's full block stays cached
}

TEST_F(KvCacheManagerTest, ReapSkipsASequenceWithAnActiveWriter) {
  const std::vector<int32_t> prompt = Tokens(5);
  const std::string id = Create(prompt);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 0, 5);
  ASSERT_TRUE(w.ok());
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(manager_->ReapExpired(), 0);
  w->reset();  // the client vanished: discarding the write renews the lease
  EXPECT_EQ(manager_->ReapExpired(), 0);
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(manager_->ReapExpired(), 1);
}

TEST_F(KvCacheManagerTest, AccountingIsExact) {
  const std::vector<int32_t> prompt = Tokens(6);
  const std::string id = CreateAndWrite(prompt);
  CacheStats s = manager_->Stats();
  EXPECT_EQ(s.capacity_bytes, 32 * kBlockBytes);
  EXPECT_EQ(s.used_bytes, 2 * kBlockBytes);
  EXPECT_EQ(s.free_bytes, 30 * kBlockBytes);
  EXPECT_EQ(s.valid_bytes, 6 * kTokenBytes);
  EXPECT_EQ(s.blocks_pinned, 1u);
  EXPECT_EQ(s.blocks_partial, 1u);
  EXPECT_EQ(s.blocks_in_flight, 0u);
  EXPECT_EQ(s.bytes_in, 6 * kTokenBytes);
  EXPECT_GT(s.overhead_bytes, 0u);
  ASSERT_TRUE(ReadBytes(id).ok());
  EXPECT_EQ(manager_->Stats().bytes_out, 6 * kTokenBytes);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 6, 0);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(manager_->Release(id).ok());
  s = manager_->Stats();
  EXPECT_EQ(s.used_bytes, kBlockBytes);
  EXPECT_EQ(s.cached_bytes, kBlockBytes);
  EXPECT_EQ(s.blocks_cached, 1u);
}

}  // namespace
}  // namespace pdserve::cache_manager
