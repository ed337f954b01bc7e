// Lock-free copying and checksumming of a PendingWrite's blocks.
#include "cache_manager/pending_write.h"

#include <algorithm>
#include <cstring>

// Inlined, so the hash is compiled for the build's baseline (AVX2 on x86-64-v3) rather than the
// shared library's SSE2 build; the values are the same. The vector path is chosen here, not by
// xxhash from the compiler's flags: its AVX-512 accumulate loop is no faster on the checksum's
// memory-bound input, and GCC 12 reports -Wmaybe-uninitialized inside it.
#if defined(__AVX2__)
#define XXH_VECTOR XXH_AVX2
#endif
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace pdserve::cache_manager::internal {

struct ChecksumState {
  XXH3_state_t xxh;
};

void ChecksumStateDeleter::operator()(ChecksumState* state) const { delete state; }

namespace {

// A slab holding every layer is copied and hashed in chunks of about this many bytes (whole
// tokens), so the hash reads bytes the copy left in L2 rather than from memory.
constexpr uint64_t kHashChunkBytes = uint64_t{64} << 10;

// Reads the concatenation of a slab's pieces front to back.
class PieceReader {
 public:
  explicit PieceReader(absl::Span<const absl::Span<const std::byte>> pieces) : pieces_(pieces) {}

  // Copies the next `n` bytes to `dst`. REQUIRES: that many bytes are left.
  void CopyTo(std::byte* dst, uint64_t n) {
    while (n > 0) {
      const absl::Span<const std::byte> piece = pieces_[index_];
      const uint64_t take = std::min<uint64_t>(n, piece.size() - offset_);
      if (take > 0) std::memcpy(dst, piece.data() + offset_, take);
      dst += take;
      n -= take;
      offset_ += take;
      if (offset_ == piece.size()) {
        ++index_;
        offset_ = 0;
      }
    }
  }

 private:
  absl::Span<const absl::Span<const std::byte>> pieces_;
  size_t index_ = 0;     // current piece
  uint64_t offset_ = 0;  // next byte in it
};

}  // namespace

uint32_t PendingWrite::ValidTokens(size_t j) const {
  const uint64_t block_first = (first_block + j) * block_size;
  return static_cast<uint32_t>(std::min<uint64_t>(end, block_first + block_size) - block_first);
}

void CopyIntoTargets(PendingWrite& write, uint64_t first_token, uint64_t num_tokens,
                     uint32_t layer_begin, uint32_t num_layers,
                     absl::Span<const absl::Span<const std::byte>> pieces) {
  const uint64_t token_bytes = write.ns->token_bytes;
  const uint64_t layer_bytes = write.ns->layout.LayerBytes();
  const uint64_t slab_token_bytes = layer_bytes * num_layers;
  const bool all_layers = num_layers == write.ns->layout.num_layers;
  const uint64_t chunk_tokens = std::max<uint64_t>(1, kHashChunkBytes / token_bytes);
  PieceReader reader(pieces);
  uint64_t token = first_token;
  const uint64_t last = first_token + num_tokens;
  while (token < last) {
    // One run of tokens inside one block.
    const uint64_t block = token / write.block_size;
    const uint64_t in_block = token % write.block_size;
    const uint64_t run = std::min<uint64_t>(last - token, write.block_size - in_block);
    std::byte* dst = write.targets[block - write.first_block]->data.get() + in_block * token_bytes;
    if (all_layers) {
      for (uint64_t t = 0; t < run; t += chunk_tokens) {
        const uint64_t n = std::min(chunk_tokens, run - t);
        reader.CopyTo(dst + t * token_bytes, n * token_bytes);
        if (write.hashed_end == token + t) HashUpTo(write, token + t + n);
      }
    } else {
      for (uint64_t t = 0; t < run; ++t) {
        reader.CopyTo(dst + t * token_bytes + layer_begin * layer_bytes, slab_token_bytes);
      }
    }
    token += run;
  }
  write.bytes_written += num_tokens * slab_token_bytes;
}

void HashUpTo(PendingWrite& write, uint64_t upto) {
  const uint64_t token_bytes = write.ns->token_bytes;
  write.checksums.resize(write.targets.size());
  if (write.hashed_end < upto && write.hash_state == nullptr) {
    write.hash_state.reset(new ChecksumState);
  }
  while (write.hashed_end < upto) {
    const uint64_t block = write.hashed_end / write.block_size;
    const size_t j = block - write.first_block;
    const uint64_t block_first = block * write.block_size;
    const uint64_t block_end = std::min(write.end, block_first + write.block_size);
    const std::byte* data = write.targets[j]->data.get();
    XXH3_state_t* state = &write.hash_state->xxh;
    if (write.hashed_end == block_first || write.hashed_end == write.begin) {
      XXH3_64bits_reset(state);
      // A tail block's checksum covers its committed tokens too.
      XXH3_64bits_update(state, data, (write.hashed_end - block_first) * token_bytes);
    }
    const uint64_t run_end = std::min(upto, block_end);
    XXH3_64bits_update(state, data + (write.hashed_end - block_first) * token_bytes,
                       (run_end - write.hashed_end) * token_bytes);
    write.hashed_end = run_end;
    if (run_end == block_end) write.checksums[j] = XXH3_64bits_digest(state);
  }
}

void FinishChecksums(PendingWrite& write) { HashUpTo(write, write.end); }

}  // namespace pdserve::cache_manager::internal
