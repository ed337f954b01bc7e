// Zero-copy parse of the WriteKvRequest messages that carry K/V (a KvSlab), for the raw WriteKv
// method: the slab's data is left in the buffers it arrived in.
#ifndef PDSERVE_CACHE_MANAGER_SLAB_REQUEST_PARSER_H_
#define PDSERVE_CACHE_MANAGER_SLAB_REQUEST_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace pdserve::cache_manager::internal {

// A KvSlab's fields; `data` views the buffers it was parsed from, in order.
struct WireSlab {
  uint64_t first_token = 0;
  uint32_t num_tokens = 0;
  uint32_t layer_begin = 0;
  uint32_t num_layers = 0;
  std::vector<absl::Span<const std::byte>> data;
};

// Parses `message`, a serialized pdserve.kvcache.v1.WriteKvRequest given as consecutive
// pieces (gRPC's slices), when it has the form every writer sends for a slab: the `slab` field
// alone, each KvSlab field in it at most once and with its declared wire type, values in range
// of their types. Then fills `slab` (reusing its vector) with exactly what protobuf would parse
// and returns true. Returns false for anything else (begin, commit, an empty message, unknown or
// repeated fields, wrong wire types, malformed or truncated bytes): protobuf's parse is the
// definition of what those mean, so the caller parses them with it.
bool ParseSlabRequest(absl::Span<const absl::Span<const std::byte>> message, WireSlab* slab);

}  // namespace pdserve::cache_manager::internal

#endif  // PDSERVE_CACHE_MANAGER_SLAB_REQUEST_PARSER_H_
