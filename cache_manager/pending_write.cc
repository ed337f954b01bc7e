// Lock-free copying and checksumming of a PendingWrite's blocks.
#include "cache_manager/pending_write.h"

#include <algorithm>
#include <cstring>

#include "xxhash.h"

namespace pdserve::cache_manager::internal {

uint32_t PendingWrite::ValidTokens(size_t j) const {
  const uint64_t block_first = (first_block + j) * block_size;
  return static_cast<uint32_t>(std::min<uint64_t>(end, block_first + block_size) - block_first);
}

void CopyIntoTargets(PendingWrite& write, uint64_t first_token, uint64_t num_tokens,
                     uint32_t layer_begin, uint32_t num_layers, absl::Span<const std::byte> data) {
  const uint64_t token_bytes = write.ns->token_bytes;
  const uint64_t layer_bytes = write.ns->layout.LayerBytes();
  const uint64_t slab_token_bytes = layer_bytes * num_layers;
  const bool all_layers = num_layers == write.ns->layout.num_layers;
  const std::byte* src = data.data();
  uint64_t token = first_token;
  const uint64_t last = first_token + num_tokens;
  while (token < last) {
    // One run of tokens inside one block.
    const uint64_t block = token / write.block_size;
    const uint64_t in_block = token % write.block_size;
    const uint64_t run = std::min<uint64_t>(last - token, write.block_size - in_block);
    std::byte* dst = write.targets[block - write.first_block]->data.get() + in_block * token_bytes;
    if (all_layers) {
      std::memcpy(dst, src, run * token_bytes);
      src += run * token_bytes;
    } else {
      for (uint64_t t = 0; t < run; ++t) {
        std::memcpy(dst + t * token_bytes + layer_begin * layer_bytes, src, slab_token_bytes);
        src += slab_token_bytes;
      }
    }
    token += run;
  }
  write.bytes_written += data.size();
}

void ComputeChecksums(PendingWrite& write) {
  write.checksums.resize(write.targets.size());
  for (size_t j = 0; j < write.targets.size(); ++j) {
    write.checksums[j] =
        XXH3_64bits(write.targets[j]->data.get(), write.ValidTokens(j) * write.ns->token_bytes);
  }
}

}  // namespace pdserve::cache_manager::internal
