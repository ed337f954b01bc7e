// KvLayout byte sizes, validation and formatting.
#include "cache_manager/kv_layout.h"

#include "absl/strings/str_cat.h"

namespace pdserve::cache_manager {

uint32_t DTypeBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kUnspecified:
      break;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kUnspecified:
      break;
  }
  return "UNSPECIFIED";
}

uint64_t KvLayout::LayerBytes() const {
  return uint64_t{2} * num_kv_heads * head_dim * DTypeBytes(dtype);
}

absl::Status KvLayout::Validate(const std::string& field) const {
  auto check = [&](const char* name, uint32_t value, uint32_t max) -> absl::Status {
    if (value == 0 || value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".", name, " is ", value, "; want 1..", max));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check("num_layers", num_layers, kMaxLayers); !s.ok()) return s;
  if (absl::Status s = check("num_kv_heads", num_kv_heads, kMaxKvHeads); !s.ok()) return s;
  if (absl::Status s = check("head_dim", head_dim, kMaxHeadDim); !s.ok()) return s;
  if (DTypeBytes(dtype) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".dtype is ", DTypeName(dtype), "; want F32, F16 or BF16"));
  }
  return absl::OkStatus();
}

std::string KvLayout::ToString() const {
  return absl::StrCat("{num_layers=", num_layers, ", num_kv_heads=", num_kv_heads,
                      ", head_dim=", head_dim, ", dtype=", DTypeName(dtype), "}");
}

}  // namespace pdserve::cache_manager
