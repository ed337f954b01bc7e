// safetensors parsing, mmap and dtype conversion.
#include "decoder/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoder/status_macros.h"
#include "nlohmann/json.hpp"
#include "xxhash.h"

namespace pdserve::decoder {
namespace {

using Json = nlohmann::json;

int64_t DTypeSize(DType d) { return d == DType::kF32 ? 4 : 2; }

absl::StatusOr<DType> ParseDType(const std::string& s, absl::string_view path,
                                 absl::string_view tensor) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", tensor, "' has dtype '", s,
                                                 "'; supported: F32, F16, BF16"));
}

absl::Status Corrupt(absl::string_view path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

// IEEE binary16 to binary32, exact (every half is a float). Written out rather than F16C so the
// loader builds anywhere; it runs once per weight at load time.
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: normalize into a float.
    int e = 113;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

void ConvertToF32(DType dtype, const uint8_t* src, int64_t count, float* dst) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::kF16: {
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = HalfToFloat(h);
      }
      return;
    }
    case DType::kBF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      return;
  }
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": file not found"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": fstat failed"));
  }
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return Corrupt(path, absl::StrCat("truncated file: ", size, " bytes, need at least 8"));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return absl::InternalError(absl::StrCat(path, ": mmap failed"));
  file->map_ = map;
  file->map_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(map);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8) {
    return Corrupt(path, absl::StrCat("header length ", header_len, " is past the end of the ",
                                      size, "-byte file"));
  }
  file->header_ = absl::string_view(reinterpret_cast<const char*>(bytes + 8), header_len);
  Json j = Json::parse(file->header_.begin(), file->header_.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(path, "header is not a JSON object");
  const uint8_t* data = bytes + 8 + header_len;
  const int64_t data_size = static_cast<int64_t>(size - 8 - header_len);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const Json& t = it.value();
    auto bad = [&](absl::string_view what) {
      return Corrupt(path, absl::StrCat("tensor '", name, "': ", what));
    };
    if (!t.is_object() || !t.contains("dtype") || !t["dtype"].is_string() ||
        !t.contains("shape") || !t["shape"].is_array() || !t.contains("data_offsets") ||
        !t["data_offsets"].is_array() || t["data_offsets"].size() != 2) {
      return bad("header entry needs dtype, shape and data_offsets [begin, end]");
    }
    PDSERVE_ASSIGN_OR_RETURN(DType dtype, ParseDType(t["dtype"].get<std::string>(), path, name));
    TensorInfo info{dtype, {}, nullptr, 0};
    int64_t count = 1;
    for (const Json& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t{1} << 40)) {
        return bad("shape must hold non-negative integers");
      }
      info.shape.push_back(d.get<int64_t>());
      count *= info.shape.back();
      if (count > (int64_t{1} << 40)) return bad("shape is too large");
    }
    const Json& off = t["data_offsets"];
    if (!off[0].is_number_integer() || !off[1].is_number_integer()) {
      return bad("data_offsets must be integers");
    }
    const int64_t begin = off[0].get<int64_t>();
    const int64_t end = off[1].get<int64_t>();
    if (begin < 0 || end < begin || end > data_size) {
      return bad(absl::StrCat("data_offsets [", begin, ", ", end, "] are outside the ", data_size,
                              " data bytes (truncated file?)"));
    }
    if (end - begin != count * DTypeSize(dtype)) {
      return bad(absl::StrCat("holds ", end - begin, " bytes but dtype x shape needs ",
                              count * DTypeSize(dtype)));
    }
    info.data = data + begin;
    info.num_bytes = end - begin;
    file->tensors_.emplace(name, std::move(info));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  auto ckpt = std::make_unique<Checkpoint>();
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::vector<std::string> shards;
  std::ifstream index_file(index_path);
  if (index_file) {
    std::stringstream ss;
    ss << index_file.rdbuf();
    Json j = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
        !j["weight_map"].is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": invalid JSON or no 'weight_map' object"));
    }
    std::set<std::string> names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": weight_map['", it.key(), "'] is not a file name"));
      }
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": shard name '", shard, "' must be a plain file name"));
      }
      names.insert(shard);
    }
    shards.assign(names.begin(), names.end());
  } else {
    shards.push_back("model.safetensors");
  }
  for (const std::string& shard : shards) {
    PDSERVE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir + "/" + shard));
    for (const auto& [name, info] : file->tensors()) {
      auto [it, inserted] = ckpt->index_.emplace(name, std::make_pair(file.get(), &info));
      if (!inserted) {
        return absl::DataLossError(absl::StrCat("tensor '", name, "' appears in both ",
                                                it->second.first->path(), " and ", file->path()));
      }
    }
    ckpt->files_.push_back(std::move(file));
  }
  return ckpt;
}

bool Checkpoint::Has(absl::string_view name) const { return index_.find(name) != index_.end(); }

absl::StatusOr<std::vector<float>> Checkpoint::ReadF32(absl::string_view name,
                                                       absl::Span<const int64_t> shape) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    std::vector<std::string> paths;
    for (const auto& f : files_) paths.push_back(f->path());
    return absl::NotFoundError(
        absl::StrCat("tensor '", name, "' is missing from ", absl::StrJoin(paths, ", ")));
  }
  const auto& [file, info] = it->second;
  if (absl::Span<const int64_t>(info->shape) != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        file->path(), ": tensor '", name, "' has shape [", absl::StrJoin(info->shape, ", "),
        "], expected [", absl::StrJoin(shape, ", "), "]"));
  }
  std::vector<float> out(info->num_bytes / DTypeSize(info->dtype));
  ConvertToF32(info->dtype, info->data, static_cast<int64_t>(out.size()), out.data());
  return out;
}

uint64_t Checkpoint::Fingerprint() const {
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  for (const auto& f : files_) {
    XXH64_update(state, f->contents().data(), f->contents().size());
  }
  const uint64_t h = XXH64_digest(state);
  XXH64_freeState(state);
  return h;
}

}  // namespace pdserve::decoder
