// Tests of KvCacheManager's write paths: WriteSession (prefill) and AppendBatch (decode).
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cache_manager/kv_cache_manager.h"
#include "cache_manager/kv_cache_manager_test_base.h"

namespace pdserve::cache_manager {
namespace {

using ::testing::HasSubstr;
using KvCacheManagerWriteTest = KvCacheManagerTestBase;

TEST_F(KvCacheManagerWriteTest, LayerByLayerInAnyInterleaving) {
  const std::vector<int32_t> prompt = Tokens(10);
  const std::string id = Create(prompt);
  const std::vector<std::byte> full = testing::KvPattern(prompt, 0, 10, kTokenBytes);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 0, 10);
  ASSERT_TRUE(w.ok()) << w.status();
  // Layer 1 first in two token ranges, then layer 0 in one.
  auto slab = [&](uint64_t first, uint64_t n, uint32_t layer) {
    std::vector<std::byte> data = testing::SliceLayers(full, kLayout, 0, first, n, layer, 1);
    return (*w)->Write(KvSlab{first, n, layer, 1, data});
  };
  ASSERT_TRUE(slab(0, 3, 1).ok());
  ASSERT_TRUE(slab(3, 7, 1).ok());
  // Not visible before commit.
  EXPECT_EQ(manager_->Read(id, 0, {})->sequence_length(), 0u);
  absl::StatusOr<uint64_t> early = (*w)->Commit();
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.status().message(), HasSubstr("layer 0"));
  ASSERT_TRUE(slab(0, 10, 0).ok());
  absl::StatusOr<uint64_t> length = (*w)->Commit();
  ASSERT_TRUE(length.ok()) << length.status();
  EXPECT_EQ(*length, 10u);
  EXPECT_EQ((*w)->bytes_written(), 10 * kTokenBytes);
  EXPECT_EQ(*ReadBytes(id), full);
  EXPECT_EQ((*w)->Write(KvSlab{0, 1, 0, 1, {}}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(KvCacheManagerWriteTest, SeveralWritesExtendAPartialBlock) {
  const std::vector<int32_t> prompt = Tokens(11);
  const std::string id = Create(prompt);
  ASSERT_TRUE(WriteRange(id, prompt, 0, 2).ok());
  absl::StatusOr<ReadSnapshot> before = manager_->Read(id, 0, {});
  ASSERT_TRUE(before.ok());
  const uint64_t partial_checksum = before->blocks()[0].checksum;
  ASSERT_TRUE(WriteRange(id, prompt, 2, 6).ok());
  ASSERT_TRUE(WriteRange(id, prompt, 6, 11).ok());
  EXPECT_EQ(*ReadBytes(id), testing::KvPattern(prompt, 0, 11, kTokenBytes));
  // The old snapshot still shows the 2 tokens it had, unchanged.
  ASSERT_EQ(before->blocks().size(), 1u);
  EXPECT_EQ(before->blocks()[0].num_tokens, 2u);
  EXPECT_EQ(XXH3_64bits(before->blocks()[0].data.data(), before->blocks()[0].data.size()),
            partial_checksum);
  absl::StatusOr<ReadSnapshot> after = manager_->Read(id, 0, {});
  EXPECT_NE(after->blocks()[0].checksum, partial_checksum);  // recomputed as the block grew
  EXPECT_TRUE(after->blocks()[0].has_key);
}

TEST_F(KvCacheManagerWriteTest, BadSlabsAreRejectedAndLeaveTheSessionUsable) {
  const std::vector<int32_t> prompt = Tokens(8);
  const std::string id = Create(prompt);
  const std::vector<std::byte> full = testing::KvPattern(prompt, 0, 8, kTokenBytes);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 0, 8);
  ASSERT_TRUE(w.ok());
  WriteSession& s = **w;
  const std::vector<std::byte> one_layer_two_tokens =
      testing::SliceLayers(full, kLayout, 0, 0, 2, 0, 1);
  auto expect = [](absl::Status st, absl::string_view text) {
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(st.message(), HasSubstr(text));
  };
  expect(s.Write(KvSlab{0, 2, 2, 1, one_layer_two_tokens}), "pass the 2 layers");
  expect(s.Write(KvSlab{0, 2, 1, 2, one_layer_two_tokens}), "pass the 2 layers");
  expect(s.Write(KvSlab{0, 0, 0, 1, {}}), "num_tokens is 0");
  expect(s.Write(KvSlab{0, 2, 0, 0, {}}), "num_layers is 0");
  expect(s.Write(KvSlab{7, 2, 0, 1, one_layer_two_tokens}), "leave the write's range");
  expect(s.Write(KvSlab{0, 2, 0, 1, absl::MakeConstSpan(one_layer_two_tokens).subspan(1)}),
         "slab.data is 127 bytes; want 2 tokens x 1 layers x 64 bytes = 128");
  expect(s.Write(KvSlab{2, 2, 0, 1, one_layer_two_tokens}), "skips tokens");
  ASSERT_TRUE(s.Write(KvSlab{0, 2, 0, 1, one_layer_two_tokens}).ok());
  expect(s.Write(KvSlab{0, 2, 0, 1, one_layer_two_tokens}), "overlaps written tokens");
  // Every layer must agree with the slab's first token.
  expect(s.Write(KvSlab{2, 2, 0, 2, testing::SliceLayers(full, kLayout, 0, 2, 2, 0, 2)}),
         "layer 1 is written up to token 0");
  ASSERT_TRUE(s.Write(KvSlab{2, 6, 0, 1, testing::SliceLayers(full, kLayout, 0, 2, 6, 0, 1)})
                  .ok());
  ASSERT_TRUE(s.Write(KvSlab{0, 8, 1, 1, testing::SliceLayers(full, kLayout, 0, 0, 8, 1, 1)})
                  .ok());
  ASSERT_TRUE(s.Commit().ok());
  EXPECT_EQ(*ReadBytes(id), full);
}

TEST_F(KvCacheManagerWriteTest, BeginWriteChecksOffsetRangeAndWriterGuard) {
  const std::vector<int32_t> prompt = Tokens(8);
  const std::string id = Create(prompt);
  EXPECT_EQ(manager_->BeginWrite("unknown", 0, 1).status().code(),
            absl::StatusCode::kNotFound);
  absl::Status s = manager_->BeginWrite(id, 3, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("committed length 0"));
  EXPECT_EQ(manager_->BeginWrite(id, 0, 9).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->BeginWrite(id, 0, uint64_t{1} << 63).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 0, 8);
  ASSERT_TRUE(w.ok());
  absl::Status second = manager_->BeginWrite(id, 0, 8).status();
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.message(), HasSubstr("another writer"));
}

// Cuts `bytes` into pieces of 1, 2, 3, ... bytes with an empty piece after each, as a message
// received in many buffers.
std::vector<absl::Span<const std::byte>> CutIntoPieces(absl::Span<const std::byte> bytes) {
  std::vector<absl::Span<const std::byte>> pieces;
  for (size_t at = 0, n = 1; at < bytes.size(); at += n, ++n) {
    pieces.push_back(bytes.subspan(at, n));
    pieces.push_back(bytes.subspan(at, 0));
  }
  return pieces;
}

TEST_F(KvCacheManagerWriteTest, SlabsInManyPiecesAreStoredAndChecksummed) {
  const std::vector<int32_t> prompt = Tokens(15);
  const std::string id = Create(prompt);
  ASSERT_TRUE(WriteRange(id, prompt, 0, 2).ok());  // a committed partial tail
  const std::vector<std::byte> full = testing::KvPattern(prompt, 0, 15, kTokenBytes);
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 2, 13);
  ASSERT_TRUE(w.ok()) << w.status();
  // Tokens [2, 9) with every layer, then layer 1 of [9, 15) before layer 0 of it.
  const std::vector<std::byte> all = testing::SliceLayers(full, kLayout, 0, 2, 7, 0, 2);
  const std::vector<std::byte> layer1 = testing::SliceLayers(full, kLayout, 0, 9, 6, 1, 1);
  const std::vector<std::byte> layer0 = testing::SliceLayers(full, kLayout, 0, 9, 6, 0, 1);
  const auto all_pieces = CutIntoPieces(all);
  const auto layer1_pieces = CutIntoPieces(layer1);
  const auto layer0_pieces = CutIntoPieces(layer0);
  ASSERT_GT(all_pieces.size(), 40u);
  // A piece short: rejected with the byte count, the session unchanged.
  const absl::Span<const absl::Span<const std::byte>> short_pieces =
      absl::MakeConstSpan(all_pieces).subspan(0, all_pieces.size() - 2);
  absl::Status bad = (*w)->Write(KvSlab{2, 7, 0, 2, SlabBytes::Pieces(short_pieces)});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  const size_t short_size = all.size() - all_pieces[all_pieces.size() - 2].size();
  EXPECT_THAT(bad.message(), HasSubstr(absl::StrCat("slab.data is ", short_size, " bytes")));
  ASSERT_TRUE((*w)->Write(KvSlab{2, 7, 0, 2, SlabBytes::Pieces(all_pieces)}).ok());
  ASSERT_TRUE((*w)->Write(KvSlab{9, 6, 1, 1, SlabBytes::Pieces(layer1_pieces)}).ok());
  ASSERT_TRUE((*w)->Write(KvSlab{9, 6, 0, 1, SlabBytes::Pieces(layer0_pieces)}).ok());
  absl::StatusOr<uint64_t> length = (*w)->Commit();
  ASSERT_TRUE(length.ok()) << length.status();
  EXPECT_EQ(*length, 15u);
  EXPECT_EQ((*w)->bytes_written(), 13 * kTokenBytes);
  EXPECT_EQ(*ReadBytes(id), full);  // ReadBytes checks every block's checksum
}

TEST_F(KvCacheManagerWriteTest, AbandonedWriteLeavesNothingBehind) {
  const std::vector<int32_t> prompt = Tokens(10);
  const std::string id = Create(prompt);
  ASSERT_TRUE(WriteRange(id, prompt, 0, 2).ok());
  const CacheStats before = manager_->Stats();
  {
    absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 2, 8);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(manager_->Stats().blocks_in_flight, 2u);
    const std::vector<std::byte> kv = testing::KvPattern(prompt, 2, 10, kTokenBytes);
    ASSERT_TRUE((*w)->Write(KvSlab{2, 8, 0, 2, kv}).ok());
    // Destroyed without commit: the client vanished.
  }
  const CacheStats after = manager_->Stats();
  EXPECT_EQ(after.used_bytes, before.used_bytes);
  EXPECT_EQ(after.valid_bytes, before.valid_bytes);
  EXPECT_EQ(after.blocks_in_flight, 0u);
  EXPECT_EQ(manager_->GetSequence(id)->num_tokens, 2u);
  EXPECT_EQ(*ReadBytes(id), testing::KvPattern(prompt, 0, 2, kTokenBytes));
  // A retry from the same offset works.
  ASSERT_TRUE(WriteRange(id, prompt, 2, 10).ok());
  EXPECT_EQ(*ReadBytes(id), testing::KvPattern(prompt, 0, 10, kTokenBytes));
}

TEST_F(KvCacheManagerWriteTest, ReleaseDuringWriteFailsTheCommit) {
  const std::vector<int32_t> prompt = Tokens(6);
  const std::string id = Create(prompt);
  ASSERT_TRUE(WriteRange(id, prompt, 0, 2).ok());
  absl::StatusOr<std::unique_ptr<WriteSession>> w = manager_->BeginWrite(id, 2, 4);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(manager_->Release(id).ok());
  const std::vector<std::byte> kv = testing::KvPattern(prompt, 2, 6, kTokenBytes);
  ASSERT_TRUE((*w)->Write(KvSlab{2, 4, 0, 2, kv}).ok());  // into blocks the session pins
  EXPECT_EQ((*w)->Commit().status().code(), absl::StatusCode::kNotFound);
  w->reset();
  const CacheStats s = manager_->Stats();
  EXPECT_EQ(s.used_bytes, 0u);
  EXPECT_EQ(s.blocks_in_flight + s.blocks_partial + s.blocks_pinned + s.blocks_cached, 0u);
  EXPECT_EQ(manager_->BeginWrite(id, 2, 4).status().code(), absl::StatusCode::kNotFound);
}

std::vector<std::byte> NextTokenKv(const std::vector<int32_t>& tokens, uint64_t begin) {
  return testing::KvPattern(tokens, begin, tokens.size(), 128);
}

TEST_F(KvCacheManagerWriteTest, AppendBatchAppliesItemsIndependently) {
  std::vector<int32_t> a = Tokens(3, 100), b = Tokens(4, 200), c = Tokens(5, 300);
  const std::string ida = CreateAndWrite(a), idb = CreateAndWrite(b);
  const std::string idc = Create(c);  // prompt not written yet
  a.push_back(1);
  b.insert(b.end(), {2, 3});
  c.push_back(4);
  const std::vector<std::byte> kva = NextTokenKv(a, 3), kvb = NextTokenKv(b, 4),
                               kvc = NextTokenKv(c, 5);
  std::vector<AppendItem> items = {
      {ida, 3, absl::MakeConstSpan(a).subspan(3), kva},
      {"missing", 0, absl::MakeConstSpan(a).subspan(3), kva},
      {idc, 5, absl::MakeConstSpan(c).subspan(5), kvc},
      {idb, 4, absl::MakeConstSpan(b).subspan(4), kvb},
  };
  absl::StatusOr<std::vector<AppendResult>> r = manager_->AppendBatch(items);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[0].status.ok());
  EXPECT_EQ((*r)[0].num_tokens, 4u);
  EXPECT_EQ((*r)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT((*r)[1].status.message(), HasSubstr("items[1]"));
  EXPECT_EQ((*r)[2].status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT((*r)[2].status.message(), HasSubstr("committed 0 of its 5 prompt tokens"));
  EXPECT_TRUE((*r)[3].status.ok());
  EXPECT_EQ((*r)[3].num_tokens, 6u);
  EXPECT_EQ(*ReadBytes(ida), testing::KvPattern(a, 0, 4, kTokenBytes));
  EXPECT_EQ(*ReadBytes(idb), testing::KvPattern(b, 0, 6, kTokenBytes));
  EXPECT_EQ(manager_->GetSequence(ida)->token_ids, a);
  EXPECT_EQ(manager_->GetSequence(idc)->num_tokens, 0u);

  // A retry of the same item applies at most once.
  r = manager_->AppendBatch(absl::MakeConstSpan(items).subspan(0, 1));
  EXPECT_EQ((*r)[0].status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT((*r)[0].status.message(), HasSubstr("committed length 4"));
  EXPECT_EQ((*r)[0].num_tokens, 4u);
  EXPECT_EQ(manager_->GetSequence(ida)->token_ids, a);
}

TEST_F(KvCacheManagerWriteTest, AppendBatchRejectsBadBatchesAndItems) {
  std::vector<int32_t> a = Tokens(3);
  const std::string id = CreateAndWrite(a);
  a.push_back(5);
  const std::vector<std::byte> kv = NextTokenKv(a, 3);
  const auto tok = absl::MakeConstSpan(a).subspan(3);
  EXPECT_EQ(manager_->AppendBatch({}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<AppendItem> dup = {{id, 3, tok, kv}, {id, 3, tok, kv}};
  absl::Status s = manager_->AppendBatch(dup).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("items[1].sequence_id"));
  EXPECT_EQ(manager_->GetSequence(id)->num_tokens, 3u);

  const std::vector<int32_t> negative = {-1};
  std::vector<AppendItem> bad = {
      {id, 3, {}, {}},
      {id + "x", 3, negative, kv},
  };
  absl::StatusOr<std::vector<AppendResult>> r = manager_->AppendBatch(bad);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT((*r)[0].status.message(), HasSubstr("token_ids is empty"));
  EXPECT_THAT((*r)[1].status.message(), HasSubstr("token_ids[0] is -1"));
  std::vector<AppendItem> short_data = {{id, 3, tok, absl::MakeConstSpan(kv).subspan(8)}};
  r = manager_->AppendBatch(short_data);
  EXPECT_THAT((*r)[0].status.message(), HasSubstr("data is 120 bytes; want 1 tokens x 128"));
  EXPECT_EQ(manager_->GetSequence(id)->num_tokens, 3u);
  EXPECT_EQ(*ReadBytes(id), testing::KvPattern(a, 0, 3, kTokenBytes));

  ASSERT_TRUE(manager_->Release(id).ok());
  std::vector<AppendItem> after_release = {{id, 3, tok, kv}};
  r = manager_->AppendBatch(after_release);
  EXPECT_EQ((*r)[0].status.code(), absl::StatusCode::kNotFound);
}

TEST_F(KvCacheManagerWriteTest, AppendFillsBlocksThatBecomeShareable) {
  std::vector<int32_t> seq = Tokens(3);
  const std::string id = CreateAndWrite(seq);
  for (int step = 0; step < 6; ++step) {
    seq.push_back(1000 + step);
    const std::vector<std::byte> kv = NextTokenKv(seq, seq.size() - 1);
    std::vector<AppendItem> items = {
        {id, seq.size() - 1, absl::MakeConstSpan(seq).subspan(seq.size() - 1), kv}};
    absl::StatusOr<std::vector<AppendResult>> r = manager_->AppendBatch(items);
    ASSERT_TRUE(r.ok() && (*r)[0].status.ok()) << (*r)[0].status;
  }
  EXPECT_EQ(*ReadBytes(id), testing::KvPattern(seq, 0, 9, kTokenBytes));
  ASSERT_TRUE(manager_->Release(id).ok());
  // Generated tokens' full blocks are cached for a prompt that repeats them.
  seq.push_back(1);
  EXPECT_EQ(*manager_->Lookup("m", seq), 8u);
}

TEST_F(KvCacheManagerWriteTest, AppendExhaustedItemChangesNothing) {
  Reset(/*capacity_blocks=*/1);
  std::vector<int32_t> a = Tokens(4);
  const std::string id = CreateAndWrite(a);  // the only block, full and pinned
  a.push_back(9);
  const std::vector<std::byte> kv = NextTokenKv(a, 4);
  std::vector<AppendItem> items = {{id, 4, absl::MakeConstSpan(a).subspan(4), kv}};
  absl::StatusOr<std::vector<AppendResult>> r = manager_->AppendBatch(items);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*r)[0].num_tokens, 4u);
  EXPECT_EQ(manager_->GetSequence(id)->token_ids.size(), 4u);
  EXPECT_EQ(*ReadBytes(id), testing::KvPattern(a, 0, 4, kTokenBytes));
}

}  // namespace
}  // namespace pdserve::cache_manager
