// Core-level benchmarks of the KV cache manager (no gRPC): write and read throughput of a
// 4096-token sequence of the synthetic:bench layout against memcpy of the same bytes in the same
// run, and resident memory per stored K/V byte with the pool full.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "cache_manager/kv_cache_manager.h"
#include "xxhash.h"

namespace pdserve::cache_manager {
namespace {

constexpr KvLayout kBenchLayout{12, 4, 64, DType::kF32};  // synthetic:bench, 24 KiB per token
constexpr uint64_t kTokens = 4096;
constexpr uint64_t kSlabTokens = 32;  // 768 KiB slabs, as the wire sends them (< 1 MiB)

uint64_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::unique_ptr<KvCacheManager> NewManager(uint64_t capacity_bytes) {
  KvCacheManagerOptions options;
  options.capacity_bytes = capacity_bytes;
  options.max_sequence_tokens = 1 << 20;
  return *KvCacheManager::Create(options);
}

std::vector<int32_t> Prompt(uint64_t n, int32_t salt) {
  std::vector<int32_t> t(n);
  for (uint64_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 7919 + salt) % 32000);
  t[0] = salt;  // a distinct first token: no prefix hits between iterations
  return t;
}

std::vector<std::byte> Bytes(uint64_t n) {
  std::vector<std::byte> b(n);
  for (uint64_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 131 + 7);
  return b;
}

// Seconds per memcpy of `bytes` between two pre-faulted buffers (best of a few).
double MemcpySeconds(const std::vector<std::byte>& src) {
  std::vector<std::byte> dst(src.size());
  std::memcpy(dst.data(), src.data(), src.size());
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    const absl::Time start = absl::Now();
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::DoNotOptimize(dst.data());
    best = std::min(best, absl::ToDoubleSeconds(absl::Now() - start));
  }
  return best;
}

// Writes tokens [0, n) of `id` in all-layer slabs of kSlabTokens and commits.
void WriteAll(KvCacheManager& m, const std::string& id, const std::vector<std::byte>& kv,
              uint64_t n) {
  const uint64_t tb = kBenchLayout.TokenBytes();
  auto w = m.BeginWrite(id, 0, n);
  if (!w.ok()) std::abort();
  for (uint64_t t = 0; t < n; t += kSlabTokens) {
    const uint64_t k = std::min(kSlabTokens, n - t);
    if (!(*w)->Write(KvSlab{t, k, 0, kBenchLayout.num_layers,
                            absl::MakeConstSpan(kv).subspan(t * tb, k * tb)})
             .ok()) {
      std::abort();
    }
  }
  if (!(*w)->Commit().ok()) std::abort();
}

// Registered first: the allocator has not recycled memory yet, so resident growth is real.
void BM_ResidentPerStoredByte(benchmark::State& state) {
  const uint64_t capacity = uint64_t{512} << 20;
  const uint64_t tb = kBenchLayout.TokenBytes();
  const std::vector<std::byte> slab = Bytes(kSlabTokens * tb);
  for (auto _ : state) {
    const uint64_t rss_before = ResidentBytes();
    std::unique_ptr<KvCacheManager> m = NewManager(capacity);
    const uint64_t n = 512;  // tokens per sequence; sequences stay pinned
    for (int32_t salt = 1;; ++salt) {
      auto created = m->CreateSequence("synthetic:bench", kBenchLayout, Prompt(n, salt),
                                       absl::ZeroDuration());
      auto w = m->BeginWrite(created->sequence_id, 0, n);
      if (!w.ok()) break;  // RESOURCE_EXHAUSTED: the pool is full
      for (uint64_t t = 0; t < n; t += kSlabTokens) {
        (void)(*w)->Write(KvSlab{t, kSlabTokens, 0, kBenchLayout.num_layers, slab});
      }
      (void)(*w)->Commit();
    }
    const CacheStats s = m->Stats();
    const uint64_t rss_after = ResidentBytes();
    state.counters["kv_bytes"] = static_cast<double>(s.valid_bytes);
    state.counters["pool_fill"] = static_cast<double>(s.used_bytes) / s.capacity_bytes;
    state.counters["resident_per_kv_byte"] =
        static_cast<double>(rss_after - rss_before) / static_cast<double>(s.valid_bytes);
    state.counters["accounted_overhead_ratio"] =
        static_cast<double>(s.overhead_bytes) / static_cast<double>(s.valid_bytes);
  }
}
BENCHMARK(BM_ResidentPerStoredByte)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Memcpy4096Tokens(benchmark::State& state) {
  const std::vector<std::byte> src = Bytes(kTokens * kBenchLayout.TokenBytes());
  std::vector<std::byte> dst(src.size());
  std::memcpy(dst.data(), src.data(), src.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * src.size());
}
BENCHMARK(BM_Memcpy4096Tokens)->Unit(benchmark::kMillisecond);

// Create + write (slabs) + commit + release of a fresh 4096-token sequence. The pool holds two
// sequences, so from the third iteration on every block comes from evicting a cached one.
void BM_CoreWrite4096Tokens(benchmark::State& state) {
  const uint64_t bytes = kTokens * kBenchLayout.TokenBytes();
  const std::vector<std::byte> kv = Bytes(bytes);
  const double memcpy_s = MemcpySeconds(kv);
  std::unique_ptr<KvCacheManager> m = NewManager(2 * bytes + (1 << 20));
  int32_t salt = 1;
  double core_s = 0;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    auto created = m->CreateSequence("synthetic:bench", kBenchLayout, Prompt(kTokens, salt++),
                                     absl::ZeroDuration());
    WriteAll(*m, created->sequence_id, kv, kTokens);
    (void)m->Release(created->sequence_id);
    core_s += absl::ToDoubleSeconds(absl::Now() - start);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["vs_memcpy"] = memcpy_s / (core_s / state.iterations());
}
BENCHMARK(BM_CoreWrite4096Tokens)->Unit(benchmark::kMillisecond);

// Read (snapshot) of the whole 4096-token sequence and copy of every block out of the pool,
// as the gRPC adapter does into its messages; optionally verifying checksums like a reader.
void BM_CoreRead4096Tokens(benchmark::State& state) {
  const bool verify = state.range(0) != 0;
  const uint64_t bytes = kTokens * kBenchLayout.TokenBytes();
  const std::vector<std::byte> kv = Bytes(bytes);
  const double memcpy_s = MemcpySeconds(kv);
  std::unique_ptr<KvCacheManager> m = NewManager(bytes + (1 << 20));
  auto created = m->CreateSequence("synthetic:bench", kBenchLayout, Prompt(kTokens, 1),
                                   absl::ZeroDuration());
  WriteAll(*m, created->sequence_id, kv, kTokens);
  std::vector<std::byte> out(bytes);
  std::memcpy(out.data(), kv.data(), bytes);
  double core_s = 0;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    auto snap = m->Read(created->sequence_id, 0, {});
    std::byte* dst = out.data();
    for (const BlockView& v : snap->blocks()) {
      std::memcpy(dst, v.data.data(), v.data.size());
      if (verify && XXH3_64bits(dst, v.data.size()) != v.checksum) std::abort();
      dst += v.data.size();
    }
    benchmark::DoNotOptimize(out.data());
    core_s += absl::ToDoubleSeconds(absl::Now() - start);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["vs_memcpy"] = memcpy_s / (core_s / state.iterations());
}
BENCHMARK(BM_CoreRead4096Tokens)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pdserve::cache_manager

BENCHMARK_MAIN();
