// KvLayout: the shape of one model's K/V (layers, kv heads, head dim, dtype) and its byte sizes.
#ifndef PDSERVE_CACHE_MANAGER_KV_LAYOUT_H_
#define PDSERVE_CACHE_MANAGER_KV_LAYOUT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace pdserve::cache_manager {

// Element type of stored K/V. The manager only moves bytes, so F16/BF16 are opaque 2-byte values.
enum class DType : uint8_t { kUnspecified = 0, kF32 = 1, kF16 = 2, kBF16 = 3 };

// Bytes per element of `dtype`; 0 for kUnspecified.
uint32_t DTypeBytes(DType dtype);
const char* DTypeName(DType dtype);

// Limits enforced by Validate(); the same as the wire contract's.
inline constexpr uint32_t kMaxLayers = 1024;
inline constexpr uint32_t kMaxKvHeads = 1024;
inline constexpr uint32_t kMaxHeadDim = 4096;

// The K/V shape of one model. A token's K/V is token-major:
//   [layer][kv (0 = K, 1 = V)][kv_head][head_dim] elements of `dtype`,
// so TokenBytes() = num_layers * 2 * num_kv_heads * head_dim * DTypeBytes(dtype), and the K/V
// of consecutive tokens is contiguous. A plain value type; thread-compatible.
struct KvLayout {
  uint32_t num_layers = 0;
  uint32_t num_kv_heads = 0;
  uint32_t head_dim = 0;
  DType dtype = DType::kUnspecified;

  // Bytes of one layer of one token: 2 * num_kv_heads * head_dim * dtype bytes.
  uint64_t LayerBytes() const;
  // Bytes of all layers of one token.
  uint64_t TokenBytes() const { return LayerBytes() * num_layers; }

  // INVALID_ARGUMENT naming the field (prefixed by `field`, e.g. "layout") if a dimension is 0 or
  // past its limit, or the dtype is unspecified.
  absl::Status Validate(const std::string& field = "layout") const;

  // "{num_layers=12, num_kv_heads=4, head_dim=64, dtype=F32}".
  std::string ToString() const;

  friend bool operator==(const KvLayout&, const KvLayout&) = default;
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_KV_LAYOUT_H_
