// Test helpers: protobuf wire-format encoding by hand, for messages the generated code would
// never produce (repeated or unknown fields, wrong wire types, bad lengths).
#ifndef PDSERVE_CACHE_MANAGER_WIRE_TEST_UTIL_H_
#define PDSERVE_CACHE_MANAGER_WIRE_TEST_UTIL_H_

#include <cstdint>
#include <string>

namespace pdserve::cache_manager::testing {

// Base-128 varint.
inline std::string Varint(uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
  out.push_back(static_cast<char>(v));
  return out;
}

// Field `field` with wire type 0 (varint) and value `v`.
inline std::string VarintField(int field, uint64_t v) {
  return Varint(uint64_t(field) << 3) + Varint(v);
}

// Field `field` with wire type 2 (length-delimited) holding `bytes`.
inline std::string BytesField(int field, const std::string& bytes) {
  return Varint((uint64_t(field) << 3) | 2) + Varint(bytes.size()) + bytes;
}

}  // namespace pdserve::cache_manager::testing

#endif  // PDSERVE_CACHE_MANAGER_WIRE_TEST_UTIL_H_
