// Tests of ParseSlabRequest: it takes exactly the plain slab messages, in any cut into pieces,
// with protobuf's values, and leaves every other message to protobuf.
#include "cache_manager/slab_request_parser.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cache_manager/wire_test_util.h"
#include "gtest/gtest.h"
#include "pdserve/kvcache/v1/kvcache.pb.h"

namespace pdserve::cache_manager::internal {
namespace {

namespace pb = ::pdserve::kvcache::v1;
using cache_manager::testing::BytesField;
using cache_manager::testing::Varint;
using cache_manager::testing::VarintField;


// `message` cut into pieces of `size` bytes (the last shorter), with an empty piece between
// any two when `with_empty`.
std::vector<absl::Span<const std::byte>> Cut(const std::string& message, size_t size,
                                             bool with_empty) {
  const auto* bytes = reinterpret_cast<const std::byte*>(message.data());
  std::vector<absl::Span<const std::byte>> pieces;
  for (size_t at = 0; at < message.size(); at += size) {
    pieces.push_back(absl::MakeConstSpan(bytes + at, std::min(size, message.size() - at)));
    if (with_empty) pieces.push_back(absl::MakeConstSpan(bytes + at, 0));
  }
  return pieces;
}

std::string Concat(const std::vector<absl::Span<const std::byte>>& pieces) {
  std::string out;
  for (absl::Span<const std::byte> p : pieces) {
    out.append(reinterpret_cast<const char*>(p.data()), p.size());
  }
  return out;
}

bool Parse(const std::string& message, WireSlab* slab) {
  return ParseSlabRequest(Cut(message, message.size() + 1, false), slab);
}

std::string Payload(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

TEST(SlabRequestParserTest, TakesSerializedSlabsCutAnyWayWithProtobufsValues) {
  std::vector<pb::WriteKvRequest> requests(4);
  requests[0].mutable_slab()->set_data(Payload(3000));
  requests[0].mutable_slab()->set_num_tokens(3);
  requests[1].mutable_slab()->set_first_token(std::numeric_limits<uint64_t>::max());
  requests[1].mutable_slab()->set_num_tokens(std::numeric_limits<uint32_t>::max());
  requests[1].mutable_slab()->set_layer_begin(7);
  requests[1].mutable_slab()->set_num_layers(300);
  requests[1].mutable_slab()->set_data(Payload(1));
  requests[2].mutable_slab();  // every field 0, no data
  requests[3].mutable_slab()->set_first_token(128);
  requests[3].mutable_slab()->set_num_tokens(16);
  requests[3].mutable_slab()->set_num_layers(1);
  requests[3].mutable_slab()->set_data(Payload(200000));
  for (size_t r = 0; r < requests.size(); ++r) {
    const std::string wire = requests[r].SerializeAsString();
    for (size_t size : {size_t{1}, size_t{2}, size_t{7}, size_t{4096}, wire.size()}) {
      for (bool with_empty : {false, true}) {
        SCOPED_TRACE(absl::StrCat("request ", r, ", pieces of ", size, ", empty ", with_empty));
        WireSlab slab;
        slab.first_token = 99;  // stale values of a previous message are cleared
        slab.data.push_back({});
        ASSERT_TRUE(ParseSlabRequest(Cut(wire, size, with_empty), &slab));
        const pb::KvSlab& want = requests[r].slab();
        EXPECT_EQ(slab.first_token, want.first_token());
        EXPECT_EQ(slab.num_tokens, want.num_tokens());
        EXPECT_EQ(slab.layer_begin, want.layer_begin());
        EXPECT_EQ(slab.num_layers, want.num_layers());
        EXPECT_EQ(Concat(slab.data), want.data());
        if (size < want.data().size()) {
          EXPECT_GE(slab.data.size(), want.data().size() / size);  // views, not a copy
        }
      }
    }
  }
}

TEST(SlabRequestParserTest, LeavesEveryOtherFormToProtobuf) {
  const std::string good = VarintField(1, 4) + VarintField(2, 4) + VarintField(4, 2) +
                           BytesField(5, Payload(64));
  WireSlab slab;
  ASSERT_TRUE(Parse(BytesField(2, good), &slab));
  pb::WriteKvRequest begin;
  begin.mutable_begin()->set_sequence_id("s");
  pb::WriteKvRequest commit;
  commit.mutable_commit();
  const std::vector<std::pair<std::string, std::string>> others = {
      {"begin", begin.SerializeAsString()},
      {"commit", commit.SerializeAsString()},
      {"empty message", ""},
      {"two slab fields (protobuf merges them)", BytesField(2, good) + BytesField(2, good)},
      {"a field after the slab", BytesField(2, good) + BytesField(3, "")},
      {"slab length past the end", Varint(0x12) + Varint(good.size() + 1) + good},
      {"slab length short of the end", Varint(0x12) + Varint(good.size() - 1) + good},
      {"slab as a varint", VarintField(2, 5)},
      {"repeated first_token", BytesField(2, good + VarintField(1, 4))},
      {"repeated data", BytesField(2, good + BytesField(5, "x"))},
      {"unknown field", BytesField(2, good + VarintField(6, 1))},
      {"field number 0", BytesField(2, VarintField(0, 1) + good)},
      {"num_tokens as bytes", BytesField(2, BytesField(2, "x"))},
      {"data as a varint", BytesField(2, VarintField(5, 1))},
      {"first_token as fixed64", BytesField(2, Varint((1 << 3) | 1) + std::string(8, '\1'))},
      {"num_tokens past 32 bits (protobuf truncates)",
       BytesField(2, VarintField(2, uint64_t{1} << 32))},
      {"varint of 11 bytes", BytesField(2, Varint(1 << 3) + std::string(10, '\x80') + "\x01")},
      {"varint past 64 bits", BytesField(2, Varint(1 << 3) + std::string(9, '\xff') + "\x02")},
      {"data length past the end", BytesField(2, Varint((5 << 3) | 2) + Varint(10) + "abc")},
      {"truncated tag", BytesField(2, std::string("\x80", 1))},
  };
  for (const auto& [what, message] : others) {
    SCOPED_TRACE(what);
    EXPECT_FALSE(Parse(message, &slab));
    EXPECT_FALSE(ParseSlabRequest(Cut(message, 1, true), &slab));
  }
  // Every strict prefix of a good message is truncated.
  const std::string whole = BytesField(2, good);
  for (size_t n = 0; n < whole.size(); ++n) {
    SCOPED_TRACE(absl::StrCat("prefix of ", n, " bytes"));
    EXPECT_FALSE(Parse(whole.substr(0, n), &slab));
  }
  // The largest varint protobuf reads exactly: 10 bytes, the last 1.
  ASSERT_TRUE(Parse(BytesField(2, Varint(1 << 3) + std::string(9, '\xff') + "\x01"), &slab));
  EXPECT_EQ(slab.first_token, std::numeric_limits<uint64_t>::max());
}

}  // namespace
}  // namespace pdserve::cache_manager::internal
