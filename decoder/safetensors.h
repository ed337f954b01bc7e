// Memory-mapped reader for Hugging Face safetensors checkpoints (single file or sharded).
#ifndef PDSERVE_DECODER_SAFETENSORS_H_
#define PDSERVE_DECODER_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace pdserve::decoder {

enum class DType { kF32, kF16, kBF16 };

// One tensor inside a mapped file. `data` points into the mapping (may be unaligned).
struct TensorInfo {
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data;
  int64_t num_bytes;
};

// One mapped .safetensors file. Immutable after Open; thread-safe.
class SafetensorsFile {
 public:
  // Maps `path` and parses its header (8-byte little-endian length, JSON, data).
  // Errors: NOT_FOUND (missing file), DATA_LOSS (truncated file, header length past the end, bad
  // header JSON, tensor offsets outside the data or disagreeing with dtype x shape),
  // INVALID_ARGUMENT (unknown or unsupported dtype). Messages name the file and tensor.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // The raw header bytes (JSON).
  absl::string_view header() const { return header_; }
  // The whole mapped file.
  absl::string_view contents() const {
    return absl::string_view(static_cast<const char*>(map_), map_size_);
  }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  absl::string_view header_;
  std::map<std::string, TensorInfo> tensors_;
};

// All tensors of a checkpoint directory: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json`. Immutable after Open; thread-safe.
class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  bool Has(absl::string_view name) const;
  // Reads tensor `name` converted to fp32 (row-major as stored).
  // Errors: NOT_FOUND (no such tensor), INVALID_ARGUMENT (shape differs from `shape`),
  // each naming the tensor and file.
  absl::StatusOr<std::vector<float>> ReadF32(absl::string_view name,
                                             absl::Span<const int64_t> shape) const;
  // XXH64 of every file's bytes in shard order: identifies the weights.
  uint64_t Fingerprint() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>, std::less<>> index_;
};

// Converts `count` elements of `dtype` at `src` (little-endian, any alignment) to fp32.
void ConvertToF32(DType dtype, const uint8_t* src, int64_t count, float* dst);

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_SAFETENSORS_H_
