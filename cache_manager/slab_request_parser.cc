// Hand-written parse of a WriteKvRequest holding one KvSlab, over the message's slices.
#include "cache_manager/slab_request_parser.h"

#include <algorithm>
#include <limits>

#include "pdserve/kvcache/v1/kvcache.pb.h"

namespace pdserve::cache_manager::internal {
namespace {

namespace pb = ::pdserve::kvcache::v1;

constexpr uint32_t kVarint = 0;           // protobuf wire types
constexpr uint32_t kLengthDelimited = 2;

// `seen` below keeps a bit per KvSlab field number.
static_assert(pb::KvSlab::kFirstTokenFieldNumber == 1 && pb::KvSlab::kNumTokensFieldNumber == 2 &&
              pb::KvSlab::kLayerBeginFieldNumber == 3 && pb::KvSlab::kNumLayersFieldNumber == 4 &&
              pb::KvSlab::kDataFieldNumber == 5);

constexpr uint64_t Tag(int field, uint32_t wire_type) {
  return (static_cast<uint64_t>(field) << 3) | wire_type;
}

// Reads the concatenation of the pieces front to back.
class Cursor {
 public:
  explicit Cursor(absl::Span<const absl::Span<const std::byte>> pieces) : pieces_(pieces) {
    for (absl::Span<const std::byte> piece : pieces) left_ += piece.size();
  }

  uint64_t left() const { return left_; }

  // A varint of at most 64 bits (protobuf would also take, and truncate, a longer one).
  bool ReadVarint(uint64_t* value) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte;
      if (!ReadByte(&byte)) return false;
      if (shift == 63 && byte > 1) return false;
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) {
        *value = v;
        return true;
      }
    }
    return false;
  }

  // Appends views of the next `n` bytes to `out`. REQUIRES: n <= left().
  void Take(uint64_t n, std::vector<absl::Span<const std::byte>>* out) {
    left_ -= n;
    while (n > 0) {
      const absl::Span<const std::byte> piece = pieces_[index_].subspan(offset_);
      const uint64_t take = std::min<uint64_t>(n, piece.size());
      if (take > 0) out->push_back(piece.subspan(0, take));
      n -= take;
      Advance(take);
    }
  }

 private:
  bool ReadByte(uint8_t* byte) {
    if (left_ == 0) return false;
    while (offset_ == pieces_[index_].size()) Advance(0);
    *byte = static_cast<uint8_t>(pieces_[index_][offset_]);
    --left_;
    Advance(1);
    return true;
  }

  void Advance(uint64_t n) {
    offset_ += n;
    if (offset_ == pieces_[index_].size() && index_ + 1 < pieces_.size()) {
      ++index_;
      offset_ = 0;
    }
  }

  absl::Span<const absl::Span<const std::byte>> pieces_;
  size_t index_ = 0;     // current piece
  uint64_t offset_ = 0;  // next byte in it
  uint64_t left_ = 0;    // bytes not yet read
};

bool ReadUint32(Cursor& in, uint32_t* value) {
  uint64_t v;
  if (!in.ReadVarint(&v) || v > std::numeric_limits<uint32_t>::max()) return false;
  *value = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

bool ParseSlabRequest(absl::Span<const absl::Span<const std::byte>> message, WireSlab* slab) {
  slab->first_token = 0;  // proto3: an absent field is 0
  slab->num_tokens = slab->layer_begin = slab->num_layers = 0;
  slab->data.clear();
  Cursor in(message);
  uint64_t tag, length;
  if (!in.ReadVarint(&tag) || tag != Tag(pb::WriteKvRequest::kSlabFieldNumber, kLengthDelimited) ||
      !in.ReadVarint(&length) || length != in.left()) {
    return false;
  }
  uint32_t seen = 0;
  while (in.left() > 0) {
    if (!in.ReadVarint(&tag)) return false;
    const uint64_t field = tag >> 3;
    if (field == 0 || field > 5 || (seen & (1u << field)) != 0) return false;
    seen |= 1u << field;
    bool ok = false;
    switch (tag) {
      case Tag(pb::KvSlab::kFirstTokenFieldNumber, kVarint):
        ok = in.ReadVarint(&slab->first_token);
        break;
      case Tag(pb::KvSlab::kNumTokensFieldNumber, kVarint):
        ok = ReadUint32(in, &slab->num_tokens);
        break;
      case Tag(pb::KvSlab::kLayerBeginFieldNumber, kVarint):
        ok = ReadUint32(in, &slab->layer_begin);
        break;
      case Tag(pb::KvSlab::kNumLayersFieldNumber, kVarint):
        ok = ReadUint32(in, &slab->num_layers);
        break;
      case Tag(pb::KvSlab::kDataFieldNumber, kLengthDelimited):
        ok = in.ReadVarint(&length) && length <= in.left();
        if (ok) in.Take(length, &slab->data);
        break;
      default:
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace pdserve::cache_manager::internal
