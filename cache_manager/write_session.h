// WriteSession: one writer's uncommitted K/V for a token range of a sequence (prefill's path).
#ifndef PDSERVE_CACHE_MANAGER_WRITE_SESSION_H_
#define PDSERVE_CACHE_MANAGER_WRITE_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cache_manager/pending_write.h"

namespace pdserve::cache_manager {

class KvCacheManager;

// A slab's payload: one contiguous span, or the concatenation of several pieces (a message
// received in several buffers is copied straight from them). Not owned; cheap to copy.
class SlabBytes {
 public:
  SlabBytes() = default;
  // From anything that converts to absl::Span<const std::byte> (a span, a vector of bytes).
  template <typename Bytes, typename = std::enable_if_t<
                                std::is_convertible_v<const Bytes&, absl::Span<const std::byte>>>>
  SlabBytes(const Bytes& bytes) : one_(bytes) {}  // NOLINT: implicit, as Span's
  static SlabBytes Pieces(absl::Span<const absl::Span<const std::byte>> pieces) {
    SlabBytes b;
    b.many_ = pieces;
    return b;
  }

  // In order, they are the payload. Valid while this object lives.
  absl::Span<const absl::Span<const std::byte>> pieces() const {
    return many_.empty() ? absl::MakeConstSpan(&one_, 1) : many_;
  }
  uint64_t size() const {
    uint64_t n = 0;
    for (absl::Span<const std::byte> piece : pieces()) n += piece.size();
    return n;
  }

 private:
  absl::Span<const std::byte> one_;
  absl::Span<const absl::Span<const std::byte>> many_;
};

// A slab of K/V for a token range and a layer range. `data` is laid out
// [token][layer in [layer_begin, layer_begin + num_layers)][kv][kv_head][head_dim] and is
// exactly num_tokens * num_layers * LayerBytes() long.
struct KvSlab {
  uint64_t first_token = 0;  // absolute position in the sequence
  uint64_t num_tokens = 0;
  uint32_t layer_begin = 0;
  uint32_t num_layers = 0;
  SlabBytes data;
};

// Created by KvCacheManager::BeginWrite() for tokens [begin_token(), end_token()). The session
// holds the sequence's writer guard and every block the range needs (reserved at begin), so
// Write() only copies bytes. Nothing is visible to readers until Commit(). Destroying an
// uncommitted session discards it: the committed length is unchanged and its blocks are freed.
//
// Thread-compatible: one thread at a time (one client stream). Write() takes no lock of the
// manager; Commit() and the destructor take it briefly. REQUIRES: the manager outlives it.
class WriteSession {
 public:
  ~WriteSession();
  WriteSession(const WriteSession&) = delete;
  WriteSession& operator=(const WriteSession&) = delete;

  // Copies a slab into the session. For every layer in the slab, the slab's tokens must start
  // exactly where this session's earlier slabs for that layer ended (the first slab of a layer
  // starts at begin_token()): each layer grows contiguously, in any interleaving of layers.
  // INVALID_ARGUMENT (naming the field) if num_tokens or num_layers is 0, a layer is out of
  // range, the tokens leave the session range, skip or overlap written tokens, or data has the
  // wrong size; the session is unchanged then. FAILED_PRECONDITION after Commit().
  absl::Status Write(const KvSlab& slab);

  // Publishes the range: completes the touched blocks' checksums (outside the lock; the bytes
  // were hashed as every layer of them arrived), then extends the
  // sequence's committed length to end_token() and seals full blocks into the prefix index.
  // Returns the new committed length. FAILED_PRECONDITION (session still usable) if a layer
  // does not cover the whole range; NOT_FOUND if the sequence was released meanwhile (the
  // session is then discarded).
  absl::StatusOr<uint64_t> Commit();

  uint64_t begin_token() const { return write_.begin; }
  uint64_t end_token() const { return write_.end; }
  uint64_t bytes_written() const { return write_.bytes_written; }

 private:
  friend class KvCacheManager;
  WriteSession(KvCacheManager* manager, internal::PendingWrite write);

  KvCacheManager* const manager_;
  internal::PendingWrite write_;
  std::vector<uint64_t> next_token_;  // per layer: first token not yet written
  bool finished_ = false;             // committed or discarded
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_WRITE_SESSION_H_
