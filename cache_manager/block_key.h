// BlockKey: the 128-bit hash-chain name of an immutable full block.
#ifndef PDSERVE_CACHE_MANAGER_BLOCK_KEY_H_
#define PDSERVE_CACHE_MANAGER_BLOCK_KEY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pdserve::cache_manager {

// XXH3-128 over (parent key, the block's token ids, model namespace). Equal token prefixes of
// the same namespace give equal key chains. A key names content only probabilistically: the
// prefix index compares token ids on every hit. A plain value type; thread-compatible.
struct BlockKey {
  uint64_t hi = 0;
  uint64_t lo = 0;

  // 32 lowercase hex digits.
  std::string ToString() const;

  friend bool operator==(const BlockKey&, const BlockKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const BlockKey& key) {
    return H::combine(std::move(h), key.hi, key.lo);
  }
};

// Parent key of a sequence's first block.
inline constexpr BlockKey kRootBlockKey{};

// Key of a block holding `token_ids` after the block named `parent`.
BlockKey ComputeBlockKey(const BlockKey& parent, absl::Span<const int32_t> token_ids,
                         absl::string_view model_namespace);

// Keys of the whole blocks of `token_ids` (size / block_size of them), chained from the root.
// REQUIRES: block_size > 0.
std::vector<BlockKey> ComputeKeyChain(absl::Span<const int32_t> token_ids, uint32_t block_size,
                                      absl::string_view model_namespace);

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_BLOCK_KEY_H_
