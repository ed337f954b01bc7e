// Test helpers: deterministic K/V patterns and slab slicing for cache_manager tests and benches.
#ifndef PDSERVE_CACHE_MANAGER_KV_TEST_UTIL_H_
#define PDSERVE_CACHE_MANAGER_KV_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/types/span.h"
#include "cache_manager/kv_layout.h"

namespace pdserve::cache_manager::testing {

inline uint64_t Mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Hash of tokens[0..pos] and `salt`: what a token's K/V depends on in a real model (its whole
// prefix), so identical prefixes give identical bytes and shared blocks stay consistent.
inline std::vector<uint64_t> PrefixHashes(absl::Span<const int32_t> tokens, uint64_t salt) {
  std::vector<uint64_t> h(tokens.size());
  uint64_t acc = Mix64(salt);
  for (size_t i = 0; i < tokens.size(); ++i) {
    acc = Mix64(acc ^ static_cast<uint32_t>(tokens[i]));
    h[i] = acc;
  }
  return h;
}

// Token-major K/V of tokens [begin, end) of `tokens`: token i's bytes are a stream seeded by
// PrefixHashes(tokens)[i]. token_bytes must be a multiple of 8.
inline std::vector<std::byte> KvPattern(absl::Span<const int32_t> tokens, uint64_t begin,
                                        uint64_t end, uint64_t token_bytes, uint64_t salt = 0) {
  const std::vector<uint64_t> h = PrefixHashes(tokens.subspan(0, end), salt);
  std::vector<std::byte> out((end - begin) * token_bytes);
  for (uint64_t t = begin; t < end; ++t) {
    std::byte* dst = out.data() + (t - begin) * token_bytes;
    for (uint64_t w = 0; w < token_bytes / 8; ++w) {
      const uint64_t v = h[t] + w * 0x9e3779b97f4a7c15ULL;
      std::memcpy(dst + w * 8, &v, 8);
    }
  }
  return out;
}

// The [token][layer in range][...] slab of layers [layer_begin, +num_layers) of tokens
// [first, first + n) cut from `full`, token-major K/V of tokens starting at full_begin.
inline std::vector<std::byte> SliceLayers(absl::Span<const std::byte> full, const KvLayout& layout,
                                          uint64_t full_begin, uint64_t first, uint64_t n,
                                          uint32_t layer_begin, uint32_t num_layers) {
  const uint64_t tb = layout.TokenBytes();
  const uint64_t lb = layout.LayerBytes();
  std::vector<std::byte> out(n * num_layers * lb);
  for (uint64_t t = 0; t < n; ++t) {
    std::memcpy(out.data() + t * num_layers * lb,
                full.data() + (first - full_begin + t) * tb + layer_begin * lb, num_layers * lb);
  }
  return out;
}

}  // namespace pdserve::cache_manager::testing

#endif  // PDSERVE_CACHE_MANAGER_KV_TEST_UTIL_H_
