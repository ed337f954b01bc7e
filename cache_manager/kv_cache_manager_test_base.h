// Shared fixture of the KvCacheManager tests: a small layout, a fake clock and helpers.
#ifndef PDSERVE_CACHE_MANAGER_KV_CACHE_MANAGER_TEST_BASE_H_
#define PDSERVE_CACHE_MANAGER_KV_CACHE_MANAGER_TEST_BASE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "cache_manager/fake_clock.h"
#include "cache_manager/kv_cache_manager.h"
#include "cache_manager/kv_test_util.h"
#include "xxhash.h"

namespace pdserve::cache_manager {

class KvCacheManagerTestBase : public ::testing::Test {
 protected:
  static constexpr uint32_t kBlockSize = 4;
  // 2 layers x 2 (K, V) x 2 heads x 4 dims x 4 bytes = 128 bytes per token, 512 per block.
  static constexpr KvLayout kLayout{2, 2, 4, DType::kF32};
  static constexpr uint64_t kTokenBytes = 128;
  static constexpr uint64_t kBlockBytes = kBlockSize * kTokenBytes;

  void SetUp() override { Reset(/*capacity_blocks=*/32); }

  void Reset(uint64_t capacity_blocks) {
    manager_.reset();
    KvCacheManagerOptions options;
    options.capacity_bytes = capacity_blocks * kBlockBytes;
    options.block_size = kBlockSize;
    options.default_lease_ttl = absl::Seconds(10);
    options.max_lease_ttl = absl::Minutes(10);
    options.max_sequence_tokens = 1000;
    options.max_sequences = 100;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<KvCacheManager>> m = KvCacheManager::Create(options);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = *std::move(m);
  }

  static std::vector<int32_t> Tokens(int n, int32_t first = 100) {
    std::vector<int32_t> t(n);
    for (int i = 0; i < n; ++i) t[i] = first + i;
    return t;
  }

  std::string Create(const std::vector<int32_t>& prompt, uint64_t* cached = nullptr,
                     const std::string& ns = "m") {
    absl::StatusOr<CreateSequenceResult> r =
        manager_->CreateSequence(ns, kLayout, prompt, absl::ZeroDuration());
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    if (cached != nullptr) *cached = r->cached_tokens;
    return r->sequence_id;
  }

  // Writes and commits all layers of tokens [begin, end) of `tokens` in one slab.
  absl::Status WriteRange(const std::string& id, const std::vector<int32_t>& tokens,
                          uint64_t begin, uint64_t end) {
    absl::StatusOr<std::unique_ptr<WriteSession>> w =
        manager_->BeginWrite(id, begin, end - begin);
    if (!w.ok()) return w.status();
    const std::vector<std::byte> kv = testing::KvPattern(tokens, begin, end, kTokenBytes);
    absl::Status s = (*w)->Write(KvSlab{begin, end - begin, 0, kLayout.num_layers, kv});
    if (!s.ok()) return s;
    return (*w)->Commit().status();
  }

  // Creates a sequence and writes its uncached prompt. Returns its id.
  std::string CreateAndWrite(const std::vector<int32_t>& prompt, uint64_t* cached = nullptr) {
    uint64_t c = 0;
    std::string id = Create(prompt, &c);
    EXPECT_TRUE(WriteRange(id, prompt, c, prompt.size()).ok());
    if (cached != nullptr) *cached = c;
    return id;
  }

  // Reads the committed K/V from `from`, verifying block positions and checksums.
  absl::StatusOr<std::vector<std::byte>> ReadBytes(const std::string& id, uint64_t from = 0) {
    absl::StatusOr<ReadSnapshot> snap = manager_->Read(id, from, {});
    if (!snap.ok()) return snap.status();
    std::vector<std::byte> out;
    uint64_t expect_index = from / kBlockSize;
    for (const BlockView& v : snap->blocks()) {
      EXPECT_EQ(v.block_index, expect_index++);
      EXPECT_EQ(v.first_token, v.block_index * kBlockSize);
      EXPECT_EQ(v.data.size(), v.num_tokens * kTokenBytes);
      EXPECT_EQ(v.checksum, XXH3_64bits(v.data.data(), v.data.size()));
      out.insert(out.end(), v.data.begin(), v.data.end());
    }
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<KvCacheManager> manager_;
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_KV_CACHE_MANAGER_TEST_BASE_H_
