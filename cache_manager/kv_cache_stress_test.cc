// Concurrency stress test of KvCacheManager: threads create, write (layer by layer, sometimes
// abandoning), append, read (verifying every byte and checksum), look up, release and reap
// random sequences in a pool small enough that eviction and RESOURCE_EXHAUSTED happen.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "cache_manager/fake_clock.h"
#include "cache_manager/kv_cache_manager.h"
#include "cache_manager/kv_test_util.h"
#include "cache_manager/mutex_lock.h"
#include "xxhash.h"

namespace pdserve::cache_manager {
namespace {

constexpr KvLayout kLayout{3, 1, 8, DType::kF32};  // 3 layers x 64 bytes = 192 bytes per token
constexpr uint32_t kBlockSize = 4;
constexpr int kThreads = 6;
constexpr int kOpsPerThread = 3000;

// Sequences any thread may read or release.
class Registry {
 public:
  void Add(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    ids_.push_back(id);
  }
  void Remove(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    std::erase(ids_, id);
  }
  std::string Pick(absl::BitGen& rng) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (ids_.empty()) return "";
    return ids_[absl::Uniform<size_t>(rng, 0, ids_.size())];
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

struct Owned {
  std::string id;
  std::vector<int32_t> tokens;
  uint64_t committed = 0;
};

class StressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KvCacheManagerOptions options;
    options.capacity_bytes = 96 * kBlockSize * kLayout.TokenBytes();
    options.block_size = kBlockSize;
    options.default_lease_ttl = absl::Seconds(2);
    options.clock = &clock_;
    manager_ = *KvCacheManager::Create(options);
  }

  static void ExpectAllowed(const absl::Status& s, const char* op) {
    const absl::StatusCode c = s.code();
    EXPECT_TRUE(c == absl::StatusCode::kOk || c == absl::StatusCode::kNotFound ||
                c == absl::StatusCode::kResourceExhausted)
        << op << ": " << s;
  }

  void Release(const std::string& id) {
    absl::Status s = manager_->Release(id).status();
    ExpectAllowed(s, "Release");
    if (s.ok()) registry_.Remove(id);
  }

  // Reads a random sequence and checks every byte against the pattern of its tokens.
  void ReadAndVerify(const std::string& id) {
    absl::StatusOr<ReadSnapshot> snap = manager_->Read(id, 0, {});
    if (!snap.ok()) {
      EXPECT_EQ(snap.status().code(), absl::StatusCode::kNotFound) << snap.status();
      return;
    }
    absl::StatusOr<SequenceInfo> info = manager_->GetSequence(id);
    if (!info.ok()) return;  // released meanwhile; the snapshot is still valid but unnamed
    const uint64_t length = snap->sequence_length();
    ASSERT_LE(length, info->token_ids.size());
    const std::vector<std::byte> want =
        testing::KvPattern(info->token_ids, 0, length, kLayout.TokenBytes());
    uint64_t offset = 0;
    for (const BlockView& v : snap->blocks()) {
      ASSERT_EQ(v.first_token * kLayout.TokenBytes(), offset);
      ASSERT_EQ(v.checksum, XXH3_64bits(v.data.data(), v.data.size()));
      ASSERT_TRUE(std::equal(v.data.begin(), v.data.end(), want.begin() + offset))
          << "block " << v.block_index << " of " << id;
      offset += v.data.size();
    }
    ASSERT_EQ(offset, want.size());
    reads_verified_.fetch_add(1);
  }

  // Writes the uncached prompt layer by layer in random token chunks; sometimes abandons.
  void WritePrompt(Owned& seq, absl::BitGen& rng) {
    const uint64_t begin = seq.committed, end = seq.tokens.size();
    absl::StatusOr<std::unique_ptr<WriteSession>> w =
        manager_->BeginWrite(seq.id, begin, end - begin);
    if (!w.ok()) {
      ExpectAllowed(w.status(), "BeginWrite");
      if (w.status().code() == absl::StatusCode::kResourceExhausted) exhausted_.fetch_add(1);
      return;
    }
    const std::vector<std::byte> full =
        testing::KvPattern(seq.tokens, begin, end, kLayout.TokenBytes());
    const bool abandon = absl::Bernoulli(rng, 0.1);
    for (uint32_t layer = 0; layer < kLayout.num_layers; ++layer) {
      for (uint64_t t = begin; t < end;) {
        const uint64_t n = std::min<uint64_t>(end - t, absl::Uniform<uint64_t>(rng, 1, 6));
        const std::vector<std::byte> slab =
            testing::SliceLayers(full, kLayout, begin, t, n, layer, 1);
        ASSERT_TRUE((*w)->Write(KvSlab{t, n, layer, 1, slab}).ok());
        t += n;
      }
      if (abandon && layer == 1) return;  // the client vanishes mid-write
    }
    absl::StatusOr<uint64_t> length = (*w)->Commit();
    if (length.ok()) {
      seq.committed = *length;
    } else {
      EXPECT_EQ(length.status().code(), absl::StatusCode::kNotFound) << length.status();
    }
  }

  void AppendSome(std::vector<Owned>& owned, absl::BitGen& rng) {
    std::vector<AppendItem> items;
    std::vector<std::vector<std::byte>> data;
    std::vector<Owned*> which;
    data.reserve(owned.size());
    for (Owned& seq : owned) {
      if (seq.committed != seq.tokens.size() || absl::Bernoulli(rng, 0.5)) continue;
      const uint64_t n = absl::Uniform<uint64_t>(rng, 1, 3);
      std::vector<int32_t> grown = seq.tokens;
      for (uint64_t i = 0; i < n; ++i) grown.push_back(absl::Uniform<int32_t>(rng, 0, 50));
      data.push_back(testing::KvPattern(grown, seq.committed, grown.size(), kLayout.TokenBytes()));
      seq.tokens.swap(grown);  // tentatively; rolled back below on failure
      items.push_back(AppendItem{seq.id, seq.committed,
                                 absl::MakeConstSpan(seq.tokens).subspan(seq.committed),
                                 data.back()});
      which.push_back(&seq);
    }
    if (items.empty()) return;
    absl::StatusOr<std::vector<AppendResult>> r = manager_->AppendBatch(items);
    ASSERT_TRUE(r.ok()) << r.status();
    for (size_t i = 0; i < items.size(); ++i) {
      Owned& seq = *which[i];
      if ((*r)[i].status.ok()) {
        seq.committed = (*r)[i].num_tokens;
        ASSERT_EQ(seq.committed, seq.tokens.size());
      } else {
        ExpectAllowed((*r)[i].status, "Append");
        if ((*r)[i].status.code() == absl::StatusCode::kResourceExhausted) exhausted_.fetch_add(1);
        seq.tokens.resize(seq.committed);
      }
    }
  }

  void Worker(int thread_index) {
    absl::BitGen rng;
    std::vector<Owned> owned;
    for (int op = 0; op < kOpsPerThread && !HasFatalFailure(); ++op) {
      const int kind = absl::Uniform<int>(rng, 0, 10);
      if (kind <= 1 || owned.empty()) {  // create, with one of a few shared prefixes
        std::vector<int32_t> prompt;
        const int32_t family = absl::Uniform<int32_t>(rng, 0, 4);
        for (int i = 0; i < 8; ++i) prompt.push_back(family * 10 + i);
        const int extra = absl::Uniform<int>(rng, 1, 10);
        for (int i = 0; i < extra; ++i) prompt.push_back(absl::Uniform<int32_t>(rng, 0, 50));
        absl::StatusOr<CreateSequenceResult> r =
            manager_->CreateSequence("stress", kLayout, prompt, absl::ZeroDuration());
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
          continue;
        }
        owned.push_back(Owned{r->sequence_id, prompt, r->cached_tokens});
        registry_.Add(r->sequence_id);
        WritePrompt(owned.back(), rng);
      } else if (kind == 2) {
        Owned& seq = owned[absl::Uniform<size_t>(rng, 0, owned.size())];
        if (seq.committed < seq.tokens.size()) WritePrompt(seq, rng);  // retry after a failure
      } else if (kind <= 4) {
        AppendSome(owned, rng);
      } else if (kind <= 6) {
        ReadAndVerify(registry_.Pick(rng));
      } else if (kind == 7) {  // release someone's sequence, or one's own
        const std::string id = absl::Bernoulli(rng, 0.5)
                                   ? registry_.Pick(rng)
                                   : owned[absl::Uniform<size_t>(rng, 0, owned.size())].id;
        Release(id);
      } else if (kind == 8) {
        std::vector<int32_t> probe;
        for (int i = 0; i < 12; ++i) probe.push_back(i);
        EXPECT_TRUE(manager_->Lookup("stress", probe).ok());
        (void)manager_->Stats();
      } else {
        if (thread_index == 0) clock_.Advance(absl::Milliseconds(100));
        manager_->ReapExpired();
      }
      // Forget sequences that no longer exist.
      std::erase_if(owned, [&](const Owned& seq) {
        if (!absl::Bernoulli(rng, 0.2) || manager_->GetSequence(seq.id).ok()) return false;
        registry_.Remove(seq.id);  // expired or released by another thread
        return true;
      });
      if (owned.size() > 16) {
        Release(owned.front().id);
        owned.erase(owned.begin());
      }
    }
    for (const Owned& seq : owned) Release(seq.id);
  }

  FakeClock clock_;
  std::unique_ptr<KvCacheManager> manager_;
  Registry registry_;
  std::atomic<int> reads_verified_{0};
  std::atomic<int> exhausted_{0};
};

TEST_F(StressTest, ConcurrentOperationsKeepEveryByteAndTheAccounting) {
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([this, i] { Worker(i); });
  for (std::thread& t : threads) t.join();

  const CacheStats s = manager_->Stats();
  EXPECT_EQ(s.sequences, 0u);
  EXPECT_EQ(s.blocks_in_flight, 0u);
  EXPECT_EQ(s.blocks_partial, 0u);
  EXPECT_EQ(s.blocks_pinned, 0u);
  EXPECT_EQ(s.used_bytes, s.cached_bytes);
  EXPECT_EQ(s.valid_bytes, s.cached_bytes);
  EXPECT_EQ(s.used_bytes, s.blocks_cached * kBlockSize * kLayout.TokenBytes());
  EXPECT_GT(reads_verified_.load(), 1000);
  EXPECT_GT(s.leases_expired, 0u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(exhausted_.load(), 0);
  EXPECT_GT(s.prefix_hit_tokens, 0u);
  std::printf("reads verified %d, exhausted %d, evictions %llu, hit ratio %.3f, expired %llu\n",
              reads_verified_.load(), exhausted_.load(),
              static_cast<unsigned long long>(s.evictions), s.prefix_hit_ratio,
              static_cast<unsigned long long>(s.leases_expired));
}

}  // namespace
}  // namespace pdserve::cache_manager
