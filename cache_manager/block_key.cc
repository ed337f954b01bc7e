// Hash-chain keys of full blocks.
#include "cache_manager/block_key.h"

#include "absl/strings/str_format.h"
#include "xxhash.h"

namespace pdserve::cache_manager {

std::string BlockKey::ToString() const { return absl::StrFormat("%016x%016x", hi, lo); }

BlockKey ComputeBlockKey(const BlockKey& parent, absl::Span<const int32_t> token_ids,
                         absl::string_view model_namespace) {
  // Layout hashed: parent.hi, parent.lo, token count, token ids, namespace bytes. The token count
  // keeps (tokens, namespace) boundaries unambiguous.
  const uint64_t count = token_ids.size();
  std::string buf;
  buf.reserve(3 * sizeof(uint64_t) + token_ids.size() * sizeof(int32_t) + model_namespace.size());
  buf.append(reinterpret_cast<const char*>(&parent.hi), sizeof(uint64_t));
  buf.append(reinterpret_cast<const char*>(&parent.lo), sizeof(uint64_t));
  buf.append(reinterpret_cast<const char*>(&count), sizeof(uint64_t));
  buf.append(reinterpret_cast<const char*>(token_ids.data()), token_ids.size() * sizeof(int32_t));
  buf.append(model_namespace.data(), model_namespace.size());
  const XXH128_hash_t h = XXH3_128bits(buf.data(), buf.size());
  return BlockKey{h.high64, h.low64};
}

std::vector<BlockKey> ComputeKeyChain(absl::Span<const int32_t> token_ids, uint32_t block_size,
                                      absl::string_view model_namespace) {
  std::vector<BlockKey> keys;
  keys.reserve(token_ids.size() / block_size);
  BlockKey parent = kRootBlockKey;
  for (size_t start = 0; start + block_size <= token_ids.size(); start += block_size) {
    parent = ComputeBlockKey(parent, token_ids.subspan(start, block_size), model_namespace);
    keys.push_back(parent);
  }
  return keys;
}

}  // namespace pdserve::cache_manager
