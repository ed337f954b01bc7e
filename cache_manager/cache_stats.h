// CacheStats: a point-in-time copy of the cache manager's counters.
#ifndef PDSERVE_CACHE_MANAGER_CACHE_STATS_H_
#define PDSERVE_CACHE_MANAGER_CACHE_STATS_H_

#include <cstdint>

namespace pdserve::cache_manager {

// Plain value; thread-compatible. Bytes are K/V block bytes unless stated.
struct CacheStats {
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;      // block buffers in any state (a partial block counts whole)
  uint64_t free_bytes = 0;      // capacity_bytes - used_bytes
  uint64_t valid_bytes = 0;     // committed K/V bytes actually stored (<= used_bytes)
  uint64_t overhead_bytes = 0;  // estimated metadata resident beside the blocks
  uint32_t block_size = 0;      // tokens per block
  uint64_t blocks_in_flight = 0;  // reserved by uncommitted writes
  uint64_t blocks_partial = 0;    // committed, private to a sequence, growing
  uint64_t blocks_pinned = 0;     // full, referenced by sequences or readers
  uint64_t blocks_cached = 0;     // full, unreferenced, evictable (LRU)
  uint64_t cached_bytes = 0;      // bytes of blocks_cached
  uint64_t sequences = 0;
  uint64_t namespaces = 0;
  uint64_t prefix_lookup_tokens = 0;  // prompt tokens offered at create
  uint64_t prefix_hit_tokens = 0;     // of which attached from the cache
  double prefix_hit_ratio = 0;        // hit / lookup, 0 when nothing was looked up
  uint64_t evictions = 0;             // blocks evicted
  uint64_t bytes_in = 0;              // K/V payload bytes accepted by writes and appends
  uint64_t bytes_out = 0;             // K/V payload bytes handed out by reads
  uint64_t leases_expired = 0;
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_CACHE_STATS_H_
