// Service tests of KvCacheService over loopback gRPC: every bad input of the cache manager's
// contract against an in-process server on 127.0.0.1:0, then leases, auth and /metrics against
// the kv_cache_manager binary.
#include "cache_manager/kv_cache_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cache_manager/kv_cache_service_test_client.h"
#include "cache_manager/kv_test_util.h"
#include "cache_manager/wire_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/metrics_scrape.h"
#include "tests/integration/process.h"
#include "xxhash.h"

namespace pdserve::cache_manager {
namespace {

namespace pb = ::pdserve::kvcache::v1;
using ::testing::HasSubstr;
using cache_manager::testing::BytesField;
using cache_manager::testing::Varint;
using cache_manager::testing::VarintField;

using service_testing::Begin;
using service_testing::Bytes;
using service_testing::Client;
using service_testing::Commit;
using service_testing::IsStatus;
using service_testing::Item;
using service_testing::kLayerBytes;
using service_testing::kLayout;
using service_testing::kTokenBytes;
using service_testing::Kv;
using service_testing::LayerSlab;
using service_testing::ReadResult;
using service_testing::Slab;
using service_testing::Tokens;
using service_testing::WaitFor;

constexpr uint32_t kBlockSize = 4;
constexpr uint64_t kCapacityBlocks = 16;
constexpr size_t kPartBytes = 200;  // a 512-byte block arrives in 3 parts
constexpr int kPushbackMs = 250;
constexpr uint64_t kMaxSequenceTokens = 256;
constexpr uint32_t kMaxAppendItems = 8;

// An in-process KvCacheService on 127.0.0.1:0 with a small pool, plus a "witness" sequence
// written at set-up that every test checks, byte for byte, at tear-down: bad input must
// never disturb another sequence.
class KvCacheServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KvCacheManagerOptions options;
    options.capacity_bytes = capacity_bytes_;
    options.block_size = kBlockSize;
    options.max_sequence_tokens = kMaxSequenceTokens;
    options.max_append_items = kMaxAppendItems;
    absl::StatusOr<std::unique_ptr<KvCacheManager>> manager = KvCacheManager::Create(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    KvCacheServiceOptions service_options;
    service_options.manager = manager_.get();
    service_options.auth = &auth_;
    service_options.metrics = &metrics_;
    service_options.max_part_bytes = part_bytes_;
    service_options.retry_pushback_ms = kPushbackMs;
    service_ = std::make_unique<KvCacheService>(service_options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    client_ = std::make_unique<Client>(absl::StrCat("127.0.0.1:", port), "", part_bytes_);

    witness_ = client_->CreateId(witness_tokens_);
    ASSERT_TRUE(client_->WriteRange(witness_, witness_tokens_, 0, witness_tokens_.size()).ok());
  }

  void TearDown() override {
    if (client_ == nullptr || witness_.empty()) return;
    ReadResult read = client_->Read(witness_, 0);
    EXPECT_TRUE(read.status.ok()) << read.status.error_message();
    EXPECT_TRUE(read.data == Kv(witness_tokens_, 0, witness_tokens_.size()))
        << "the witness sequence changed";
    EXPECT_EQ(client_->Length(witness_), witness_tokens_.size());
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  // Creates a sequence for `tokens` and writes its whole prompt.
  std::string CreateAndWrite(const std::vector<int32_t>& tokens) {
    std::string id = client_->CreateId(tokens);
    grpc::Status s = client_->WriteRange(id, tokens, 0, tokens.size());
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  uint64_t BlocksPartial() {
    pb::GetStatsResponse stats;
    EXPECT_TRUE(client_->Stats(&stats).ok());
    return stats.blocks_partial();
  }

  // Set by derived fixtures before SetUp().
  uint64_t capacity_bytes_ = kCapacityBlocks * kBlockSize * kTokenBytes;
  size_t part_bytes_ = kPartBytes;

  common::TokenAuth auth_{""};
  common::MetricsRegistry metrics_;
  std::unique_ptr<KvCacheManager> manager_;
  std::unique_ptr<KvCacheService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
  const std::vector<int32_t> witness_tokens_ = Tokens(10, 9000);  // 2 full blocks + 2 tokens
  std::string witness_;
};

TEST_F(KvCacheServiceTest, UnknownSequenceIsNotFoundOnEveryRpc) {
  const std::string id = "00000000000000000000000000000000";
  pb::GetSequenceResponse info;
  EXPECT_THAT(client_->GetSequence(id, &info), IsStatus(grpc::NOT_FOUND, "sequence_id '" + id));
  EXPECT_THAT(client_->Release(id), IsStatus(grpc::NOT_FOUND, "sequence_id"));
  EXPECT_THAT(client_->Read(id, 0).status, IsStatus(grpc::NOT_FOUND, "sequence_id"));
  EXPECT_THAT(client_->Write({Begin(id, 0, 1)}), IsStatus(grpc::NOT_FOUND, "sequence_id"));
  pb::AppendKvResponse appended;
  ASSERT_TRUE(client_->Append({Item(id, 0, Tokens(1, 1), 0, 1)}, &appended).ok());
  ASSERT_EQ(appended.results_size(), 1);
  EXPECT_EQ(appended.results(0).code(), grpc::NOT_FOUND);
  EXPECT_THAT(appended.results(0).message(), HasSubstr("items[0]: sequence_id"));
}

TEST_F(KvCacheServiceTest, WriteAppendReadAfterReleaseAreNotFound) {
  const std::vector<int32_t> tokens = Tokens(6, 100);
  const std::string id = CreateAndWrite(tokens);
  ASSERT_TRUE(client_->Release(id).ok());
  EXPECT_THAT(client_->Release(id), IsStatus(grpc::NOT_FOUND, "sequence_id"));
  EXPECT_THAT(client_->Write({Begin(id, 6, 1)}), IsStatus(grpc::NOT_FOUND, "sequence_id"));
  pb::AppendKvResponse appended;
  ASSERT_TRUE(client_->Append({Item(id, 6, Tokens(7, 100), 6, 7)}, &appended).ok());
  EXPECT_EQ(appended.results(0).code(), grpc::NOT_FOUND);
  EXPECT_THAT(appended.results(0).message(), HasSubstr("sequence_id"));
  EXPECT_THAT(client_->Read(id, 0).status, IsStatus(grpc::NOT_FOUND, "sequence_id"));
}

TEST_F(KvCacheServiceTest, ReleaseDuringAWriteFailsItsCommitNotFound) {
  const std::vector<int32_t> tokens = Tokens(4, 100);
  const std::string id = client_->CreateId(tokens);
  pb::WriteKvResponse response;
  grpc::ClientContext context;
  client_->Prepare(&context);
  auto writer = client_->stub()->WriteKv(&context, &response);
  ASSERT_TRUE(writer->Write(Begin(id, 0, 4)));
  ASSERT_TRUE(writer->Write(Slab(0, 4, 0, 2, Kv(tokens, 0, 4))));
  ASSERT_TRUE(WaitFor([&] { return BlocksPartial() > 1; }));  // the begin reserved a block
  ASSERT_TRUE(client_->Release(id).ok());
  writer->Write(Commit());
  writer->WritesDone();
  EXPECT_THAT(writer->Finish(), IsStatus(grpc::NOT_FOUND, "sequence_id"));
}

TEST_F(KvCacheServiceTest, CreateRejectsBadLayoutsNamespacesAndTokens) {
  pb::CreateSequenceResponse r;
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, "m", KvLayout{4, 2, 4, DType::kF32}),
              IsStatus(grpc::INVALID_ARGUMENT, "registered layout"));
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, "m", KvLayout{2, 2, 4, DType::kF16}),
              IsStatus(grpc::INVALID_ARGUMENT, "layout"));
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, "n", KvLayout{0, 2, 4, DType::kF32}),
              IsStatus(grpc::INVALID_ARGUMENT, "layout.num_layers is 0"));
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, "n", KvLayout{2, 2, 5000, DType::kF32}),
              IsStatus(grpc::INVALID_ARGUMENT, "layout.head_dim is 5000"));
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, "n", KvLayout{2, 2, 4, DType::kUnspecified}),
              IsStatus(grpc::INVALID_ARGUMENT, "layout.dtype"));
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, ""), IsStatus(grpc::INVALID_ARGUMENT,
                                                              "model_namespace"));
  EXPECT_THAT(client_->Create({}, &r), IsStatus(grpc::INVALID_ARGUMENT, "token_ids has 0"));
  EXPECT_THAT(client_->Create(Tokens(kMaxSequenceTokens + 1, 1), &r),
              IsStatus(grpc::INVALID_ARGUMENT, "token_ids has 257"));
  EXPECT_THAT(client_->Create({1, -2, 3}, &r), IsStatus(grpc::INVALID_ARGUMENT,
                                                        "token_ids[1] is -2"));
  EXPECT_THAT(client_->Create(Tokens(4, 1), &r, "m", kLayout,
                              std::numeric_limits<uint32_t>::max()),
              IsStatus(grpc::INVALID_ARGUMENT, "lease_ttl"));
  pb::LookupResponse lookup;
  EXPECT_THAT(client_->Lookup("m", {}, &lookup), IsStatus(grpc::INVALID_ARGUMENT, "token_ids"));
  EXPECT_THAT(client_->Lookup("", Tokens(4, 1), &lookup),
              IsStatus(grpc::INVALID_ARGUMENT, "model_namespace"));
  pb::GetStatsResponse stats;
  ASSERT_TRUE(client_->Stats(&stats).ok());
  EXPECT_EQ(stats.sequences(), 1u);  // only the witness
}

TEST_F(KvCacheServiceTest, WriteRejectsBadSlabsAndLeavesTheSequenceUnchanged) {
  const std::vector<int32_t> tokens = Tokens(8, 100);
  const std::string id = client_->CreateId(tokens);
  const std::string kv = Kv(tokens, 0, 4);
  struct Case {
    std::vector<pb::WriteKvRequest> messages;
    grpc::StatusCode code;
    std::string substring;
  };
  const std::vector<Case> cases = {
      {{Slab(0, 4, 0, 2, kv)}, grpc::INVALID_ARGUMENT, "slab: sent before the WriteBegin"},
      {{Commit()}, grpc::INVALID_ARGUMENT, "commit: sent before the WriteBegin"},
      {{pb::WriteKvRequest()}, grpc::INVALID_ARGUMENT, "none of begin, slab, commit"},
      {{Begin(id, 0, 4), Begin(id, 0, 4)}, grpc::INVALID_ARGUMENT, "exactly one WriteBegin"},
      // Byte count that disagrees with layout x tokens.
      {{Begin(id, 0, 4), Slab(0, 4, 0, 2, kv.substr(1))}, grpc::INVALID_ARGUMENT,
       "slab.data is 511 bytes; want 4 tokens x 2 layers x 64 bytes = 512"},
      {{Begin(id, 0, 4), Slab(0, 4, 0, 1, kv)}, grpc::INVALID_ARGUMENT, "slab.data is 512"},
      // Layer index out of range.
      {{Begin(id, 0, 4), Slab(0, 4, 2, 1, kv.substr(0, 4 * kLayerBytes))},
       grpc::INVALID_ARGUMENT, "slab layers [2, 3) pass the 2 layers"},
      {{Begin(id, 0, 4), Slab(0, 4, 1, 2, kv)}, grpc::INVALID_ARGUMENT,
       "slab layers [1, 3) pass the 2 layers"},
      {{Begin(id, 0, 4), Slab(0, 4, 0, 0, "")}, grpc::INVALID_ARGUMENT, "slab.num_layers is 0"},
      // Token ranges that skip, overlap, or leave the write's range.
      {{Begin(id, 0, 4), LayerSlab(tokens, 1, 3, 0, 2)}, grpc::INVALID_ARGUMENT,
       "slab.first_token is 1 but layer 0 is written up to token 0 (skips tokens)"},
      {{Begin(id, 0, 4), LayerSlab(tokens, 0, 2, 0, 2), LayerSlab(tokens, 1, 2, 0, 2)},
       grpc::INVALID_ARGUMENT,
       "slab.first_token is 1 but layer 0 is written up to token 2 (overlaps written tokens)"},
      {{Begin(id, 0, 4), LayerSlab(tokens, 0, 2, 0, 1), LayerSlab(tokens, 3, 1, 0, 1)},
       grpc::INVALID_ARGUMENT, "(skips tokens)"},
      {{Begin(id, 0, 4), LayerSlab(tokens, 2, 4, 0, 2)}, grpc::INVALID_ARGUMENT,
       "slab tokens [2, +4) leave the write's range [0, 4)"},
      // Zero and huge token counts.
      {{Begin(id, 0, 0)}, grpc::INVALID_ARGUMENT, "num_tokens 0"},
      {{Begin(id, 0, 9)}, grpc::INVALID_ARGUMENT, "num_tokens 9 from expected_offset 0"},
      {{Begin(id, 0, std::numeric_limits<uint64_t>::max())}, grpc::INVALID_ARGUMENT,
       "num_tokens 18446744073709551615"},
      {{Begin(id, 5, std::numeric_limits<uint64_t>::max() - 3)}, grpc::INVALID_ARGUMENT,
       "num_tokens"},
      {{Begin(id, 0, 4), Slab(0, 0, 0, 2, "")}, grpc::INVALID_ARGUMENT, "slab.num_tokens is 0"},
      {{Begin(id, 0, 4), Slab(0, std::numeric_limits<uint32_t>::max(), 0, 2, kv)},
       grpc::INVALID_ARGUMENT, "slab tokens [0, +4294967295)"},
      {{Begin(id, 0, 4), Slab(std::numeric_limits<uint64_t>::max(), 1, 0, 2, kv)},
       grpc::INVALID_ARGUMENT, "slab tokens [18446744073709551615, +1)"},
      // Stale offset (a retried write): names the current length.
      {{Begin(id, 3, 1)}, grpc::FAILED_PRECONDITION,
       "expected_offset is 3 but sequence '" + id + "' has committed length 0"},
      // Commit before every layer covered the range.
      {{Begin(id, 0, 4), LayerSlab(tokens, 0, 4, 0, 1), Commit()}, grpc::FAILED_PRECONDITION,
       "commit before layer 1 covered the write"},
      // The stream ends without a commit.
      {{Begin(id, 0, 4), Slab(0, 4, 0, 2, kv)}, grpc::INVALID_ARGUMENT, "without a commit"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("case ", i, ": ", cases[i].substring));
    EXPECT_THAT(client_->Write(cases[i].messages), IsStatus(cases[i].code, cases[i].substring));
    // Nothing of the failed write is kept, and the writer guard is free again.
    EXPECT_EQ(client_->Length(id), 0u);
    EXPECT_EQ(BlocksPartial(), 1u);  // the witness's tail
  }
  // The sequence still takes a good write, layer by layer, in interleaved token chunks.
  pb::WriteKvResponse response;
  ASSERT_TRUE(client_->Write({Begin(id, 0, 8), LayerSlab(tokens, 0, 3, 1, 1),
                              LayerSlab(tokens, 0, 5, 0, 1), LayerSlab(tokens, 3, 5, 1, 1),
                              LayerSlab(tokens, 5, 3, 0, 1), Commit()},
                             &response).ok());
  EXPECT_EQ(response.num_tokens(), 8u);
  EXPECT_EQ(response.bytes_written(), 8 * kTokenBytes);
  EXPECT_TRUE(client_->Read(id, 0).data == Kv(tokens, 0, 8));
}

// A WriteKvRequest whose slab field holds `slab_fields` as they are.
std::string SlabMessage(const std::string& slab_fields) { return BytesField(2, slab_fields); }

// WriteKv parses slab messages by hand; whatever a message holds, the result must be what
// protobuf's parse of it gives (the typed path before), and a message protobuf rejects is
// INVALID_ARGUMENT.
TEST_F(KvCacheServiceTest, RawWriteKvParsesMessagesAsProtobufDoes) {
  const std::vector<int32_t> tokens = Tokens(4, 100);
  const std::string kv = Kv(tokens, 0, 4);
  const std::string commit = Commit().SerializeAsString();
  const std::string good_fields =
      VarintField(2, 4) + VarintField(4, 2) + BytesField(5, kv);  // first_token, layer 0 omitted
  auto begin_for = [](const std::string& id) { return Begin(id, 0, 4).SerializeAsString(); };

  const std::string id = client_->CreateId(tokens);
  struct Case {
    std::string slab_message;
    grpc::StatusCode code;
    std::string substring;
  };
  const std::vector<Case> failing = {
      // Malformed or truncated: protobuf rejects them.
      {SlabMessage(good_fields).substr(0, 40), grpc::INVALID_ARGUMENT,
       "WriteKvRequest: not a valid serialized message"},
      {std::string("\xff\xff\xff", 3), grpc::INVALID_ARGUMENT, "not a valid serialized message"},
      {SlabMessage(VarintField(2, 4) + Varint((5 << 3) | 2) + Varint(kv.size() + 1) + kv),
       grpc::INVALID_ARGUMENT, "not a valid serialized message"},
      // A field of the wrong wire type is an unknown field to protobuf: num_tokens stays 0.
      {SlabMessage(BytesField(2, "x") + VarintField(4, 2) + BytesField(5, kv)),
       grpc::INVALID_ARGUMENT, "slab.num_tokens is 0"},
      // data as a varint: no data.
      {SlabMessage(VarintField(2, 4) + VarintField(4, 2) + VarintField(5, 7)),
       grpc::INVALID_ARGUMENT, "slab.data is 0 bytes; want 4 tokens x 2 layers"},
      // An empty slab field is a slab with every field 0.
      {SlabMessage(""), grpc::INVALID_ARGUMENT, "slab.num_tokens is 0"},
      // A slab, then a commit field in the same message: the oneof keeps the last.
      {SlabMessage(good_fields) + BytesField(3, ""), grpc::FAILED_PRECONDITION,
       "commit before layer 0 covered the write"},
  };
  for (size_t i = 0; i < failing.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("case ", i, ": ", failing[i].substring));
    EXPECT_THAT(client_->WriteBytes({begin_for(id), failing[i].slab_message, commit}),
                IsStatus(failing[i].code, failing[i].substring));
    EXPECT_EQ(client_->Length(id), 0u);
    EXPECT_EQ(BlocksPartial(), 1u);  // the witness's tail
  }
  // A malformed message before any begin.
  EXPECT_THAT(client_->WriteBytes({std::string("\x0a\x09", 2)}),
              IsStatus(grpc::INVALID_ARGUMENT, "not a valid serialized message"));

  // Forms the hand parser leaves to protobuf, which accepts them as the same slab.
  const std::vector<std::string> accepted = {
      // Two slab fields in one message merge.
      SlabMessage(VarintField(2, 4) + VarintField(4, 2)) + SlabMessage(BytesField(5, kv)),
      // A repeated field: the last one wins.
      SlabMessage(VarintField(2, 9) + BytesField(5, "short") + good_fields),
      // An unknown field is skipped.
      SlabMessage(good_fields + BytesField(9, "future")),
      // A uint32 sent with more than 32 bits is truncated: 2^32 + 4 tokens is 4.
      SlabMessage(VarintField(2, (uint64_t{1} << 32) + 4) + VarintField(4, 2) +
                  BytesField(5, kv)),
      // Explicit zeros, fields out of order.
      SlabMessage(BytesField(5, kv) + VarintField(4, 2) + VarintField(3, 0) + VarintField(1, 0) +
                  VarintField(2, 4)),
      // The plain form the parser takes itself.
      SlabMessage(good_fields),
  };
  for (size_t i = 0; i < accepted.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("accepted case ", i));
    const std::string fresh = client_->CreateId(Tokens(4, 1000 + 10 * static_cast<int>(i)));
    // Every sequence gets the same bytes `kv`; a read returns them with valid checksums.
    pb::WriteKvResponse response;
    ASSERT_TRUE(client_->WriteBytes({begin_for(fresh), accepted[i], commit}, &response).ok());
    EXPECT_EQ(response.num_tokens(), 4u);
    EXPECT_EQ(response.bytes_written(), kv.size());
    ReadResult read = client_->Read(fresh, 0);
    ASSERT_TRUE(read.status.ok());
    EXPECT_TRUE(read.data == kv);
    ASSERT_TRUE(client_->Release(fresh).ok());
  }
}

TEST_F(KvCacheServiceTest, SecondWriterIsFailedPreconditionWhileTheFirstIsOpen) {
  const std::vector<int32_t> tokens = Tokens(4, 100);
  const std::string id = client_->CreateId(tokens);
  pb::WriteKvResponse response;
  grpc::ClientContext context;
  client_->Prepare(&context);
  auto writer = client_->stub()->WriteKv(&context, &response);
  ASSERT_TRUE(writer->Write(Begin(id, 0, 4)));
  ASSERT_TRUE(WaitFor([&] { return BlocksPartial() > 1; }));
  EXPECT_THAT(client_->WriteRange(id, tokens, 0, 4),
              IsStatus(grpc::FAILED_PRECONDITION, "another writer active"));
  ASSERT_TRUE(writer->Write(Slab(0, 4, 0, 2, Kv(tokens, 0, 4))));
  ASSERT_TRUE(writer->Write(Commit()));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(client_->Length(id), 4u);
}

TEST_F(KvCacheServiceTest, AbandonedWriteStreamLeavesNothingBehind) {
  const std::vector<int32_t> tokens = Tokens(8, 100);
  const std::string id = client_->CreateId(tokens);
  {
    // Half a write (layer 0 of every token, layer 1 of none), then the client vanishes.
    pb::WriteKvResponse response;
    grpc::ClientContext context;
    client_->Prepare(&context);
    auto writer = client_->stub()->WriteKv(&context, &response);
    ASSERT_TRUE(writer->Write(Begin(id, 0, 8)));
    ASSERT_TRUE(writer->Write(LayerSlab(tokens, 0, 8, 0, 1)));
    ASSERT_TRUE(WaitFor([&] { return BlocksPartial() == 3; }));  // witness tail + 2 reserved
    context.TryCancel();
    EXPECT_EQ(writer->Finish().error_code(), grpc::CANCELLED);
  }
  // The server notices the cancellation on its own time: wait for the reservation to go.
  ASSERT_TRUE(WaitFor([&] { return BlocksPartial() == 1; }));
  EXPECT_EQ(client_->Length(id), 0u);
  EXPECT_TRUE(client_->Read(id, 0).blocks.empty());
  // A new write of the same range works and reads back whole.
  ASSERT_TRUE(client_->WriteRange(id, tokens, 0, 8).ok());
  ReadResult read = client_->Read(id, 0);
  ASSERT_TRUE(read.status.ok());
  EXPECT_TRUE(read.data == Kv(tokens, 0, 8));
}

TEST_F(KvCacheServiceTest, AppendRejectsBadItemsIndependently) {
  const std::vector<int32_t> tokens = Tokens(12, 100);
  const std::string a = CreateAndWrite(Tokens(6, 100));
  const std::string b = CreateAndWrite(Tokens(6, 300));
  const std::string unwritten = client_->CreateId(Tokens(6, 500));
  pb::AppendKvResponse r;
  // Duplicate ids, an empty batch and an oversized one fail the whole call.
  EXPECT_THAT(client_->Append({Item(a, 6, tokens, 6, 7), Item(a, 7, tokens, 7, 8)}, &r),
              IsStatus(grpc::INVALID_ARGUMENT, "items[1].sequence_id '" + a +
                                                   "' duplicates items[0]"));
  EXPECT_THAT(client_->Append({}, &r), IsStatus(grpc::INVALID_ARGUMENT, "items has 0"));
  std::vector<pb::AppendItem> many(kMaxAppendItems + 1, Item(a, 6, tokens, 6, 7));
  for (size_t i = 0; i < many.size(); ++i) many[i].set_sequence_id(absl::StrCat("s", i));
  EXPECT_THAT(client_->Append(many, &r), IsStatus(grpc::INVALID_ARGUMENT, "items has 9"));
  EXPECT_EQ(client_->Length(a), 6u);

  pb::AppendItem bad_bytes = Item(b, 6, Tokens(8, 300), 6, 8);
  bad_bytes.mutable_data()->resize(kTokenBytes);
  pb::AppendItem empty = Item(b, 6, tokens, 6, 6);
  pb::AppendItem negative = Item(b, 6, tokens, 6, 7);
  negative.set_token_ids(0, -5);
  pb::AppendItem huge = Item(b, 6, Tokens(kMaxSequenceTokens, 0), 0, kMaxSequenceTokens);
  struct Case {
    pb::AppendItem item;
    grpc::StatusCode code;
    std::string substring;
  };
  const std::vector<Case> cases = {
      {bad_bytes, grpc::INVALID_ARGUMENT, "data is 128 bytes; want 2 tokens x 128 bytes = 256"},
      {empty, grpc::INVALID_ARGUMENT, "token_ids is empty"},
      {negative, grpc::INVALID_ARGUMENT, "token_ids[0] is -5"},
      {huge, grpc::INVALID_ARGUMENT, "token_ids has 256 tokens"},
      {Item(b, 5, tokens, 6, 7), grpc::FAILED_PRECONDITION, "committed length 6"},
      {Item(unwritten, 0, tokens, 6, 7), grpc::FAILED_PRECONDITION, "append only after"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.substring);
    // Each bad item rides beside a good one, which still applies.
    const uint64_t a_length = client_->Length(a);
    ASSERT_TRUE(client_->Append({Item(a, a_length, tokens, a_length, a_length + 1), c.item},
                                &r).ok());
    ASSERT_EQ(r.results_size(), 2);
    EXPECT_EQ(r.results(0).code(), grpc::OK) << r.results(0).message();
    EXPECT_EQ(r.results(0).num_tokens(), a_length + 1);
    EXPECT_EQ(r.results(1).code(), c.code);
    EXPECT_THAT(r.results(1).message(), HasSubstr("items[1]: "));
    EXPECT_THAT(r.results(1).message(), HasSubstr(c.substring));
    EXPECT_EQ(r.results(1).sequence_id(), c.item.sequence_id());
  }
  EXPECT_EQ(client_->Length(b), 6u);
  EXPECT_EQ(client_->Length(unwritten), 0u);
  EXPECT_TRUE(client_->Read(a, 0).data == Kv(tokens, 0, 12));
  EXPECT_TRUE(client_->Read(b, 0).data == Kv(Tokens(6, 300), 0, 6));
}

TEST_F(KvCacheServiceTest, RetriedAppendWithStaleOffsetAppliesOnce) {
  const std::vector<int32_t> tokens = Tokens(8, 100);
  const std::string id = CreateAndWrite(Tokens(6, 100));
  const pb::AppendItem item = Item(id, 6, tokens, 6, 8);
  pb::AppendKvResponse r;
  ASSERT_TRUE(client_->Append({item}, &r).ok());
  ASSERT_EQ(r.results(0).code(), grpc::OK) << r.results(0).message();
  EXPECT_EQ(r.results(0).num_tokens(), 8u);
  // The retry (say the first response was lost) is refused and names the current length.
  ASSERT_TRUE(client_->Append({item}, &r).ok());
  EXPECT_EQ(r.results(0).code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(r.results(0).message(), HasSubstr("expected_offset is 6"));
  EXPECT_THAT(r.results(0).message(), HasSubstr("committed length 8"));
  EXPECT_EQ(r.results(0).num_tokens(), 8u);
  pb::GetSequenceResponse info;
  ASSERT_TRUE(client_->GetSequence(id, &info).ok());
  EXPECT_EQ(info.num_tokens(), 8u);
  EXPECT_THAT(info.token_ids(), ::testing::ElementsAreArray(tokens));
  EXPECT_TRUE(client_->Read(id, 0).data == Kv(tokens, 0, 8));
  // A retried prompt write is refused the same way.
  EXPECT_THAT(client_->WriteRange(id, tokens, 0, 6),
              IsStatus(grpc::FAILED_PRECONDITION, "committed length 8"));
}

TEST_F(KvCacheServiceTest, ReadsArePartedChecksummedAndSkipHeldBlocks) {
  const std::vector<int32_t> tokens = Tokens(14, 100);  // 3 full blocks + 2 tokens
  const std::string id = CreateAndWrite(tokens);
  ReadResult all = client_->Read(id, 0);
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  ASSERT_EQ(all.blocks.size(), 4u);
  EXPECT_TRUE(all.data == Kv(tokens, 0, 14));
  EXPECT_EQ(all.messages.size(), 3u * 3 + 2);  // 512-byte blocks in 3 parts, 256 bytes in 2
  for (const pb::ReadKvResponse& m : all.messages) {
    EXPECT_EQ(m.sequence_length(), 14u);
    EXPECT_EQ(m.block_size(), kBlockSize);
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(all.blocks[i].has_key);
    EXPECT_EQ(all.blocks[i].first_token, i * kBlockSize);
  }
  EXPECT_FALSE(all.blocks[3].has_key);  // the partial tail is not indexed
  EXPECT_EQ(all.blocks[3].num_tokens, 2u);

  // From the middle of block 1: blocks 1.. are sent whole.
  ReadResult middle = client_->Read(id, 5);
  ASSERT_EQ(middle.blocks.size(), 3u);
  EXPECT_EQ(middle.blocks[0].block_index, 1u);
  EXPECT_TRUE(middle.data == Kv(tokens, 4, 14));

  // Held blocks 0 and 2 are skipped; 1 and the tail arrive.
  ReadResult skipped = client_->Read(id, 0, {all.blocks[0].key, all.blocks[2].key});
  ASSERT_TRUE(skipped.status.ok());
  ASSERT_EQ(skipped.blocks.size(), 2u);
  EXPECT_EQ(skipped.blocks[0].block_index, 1u);
  EXPECT_EQ(skipped.blocks[1].block_index, 3u);
  EXPECT_TRUE(skipped.blocks[0].data == Kv(tokens, 4, 8));
  // An unknown held key changes nothing.
  pb::BlockKey unknown;
  unknown.set_hi(1);
  unknown.set_lo(2);
  EXPECT_EQ(client_->Read(id, 0, {unknown}).blocks.size(), 4u);
}

// A pool big enough for reads that outrun HTTP/2 flow control, so a ReadKv is still sending
// block bytes (straight from pinned memory) while the test releases its sequence and makes the
// pool evict and reuse blocks.
class KvCacheServiceBigReadTest : public KvCacheServiceTest {
 protected:
  // 8 layers x 2 x 8 heads x 128 dims x 4 bytes = 64 KiB per token, 256 KiB per block.
  static constexpr KvLayout kBigLayout{8, 8, 128, DType::kF32};
  static constexpr uint64_t kBigTokenBytes = 64 << 10;
  static constexpr uint64_t kBigTokens = 256;  // 16 MiB

  KvCacheServiceBigReadTest() {
    capacity_bytes_ = 40 << 20;
    part_bytes_ = 1 << 20;
  }

  // Creates a "big" sequence and writes it in 1 MiB slabs; returns its id.
  std::string CreateAndWriteBig(const std::vector<int32_t>& tokens) {
    pb::CreateSequenceResponse created;
    EXPECT_TRUE(client_->Create(tokens, &created, "big", kBigLayout).ok());
    std::vector<pb::WriteKvRequest> messages = {Begin(created.sequence_id(), 0, tokens.size())};
    const std::string kv = Bytes(testing::KvPattern(tokens, 0, tokens.size(), kBigTokenBytes));
    for (uint64_t t = 0; t < tokens.size(); t += 16) {
      messages.push_back(Slab(t, 16, 0, kBigLayout.num_layers,
                              kv.substr(t * kBigTokenBytes, 16 * kBigTokenBytes)));
    }
    messages.push_back(Commit());
    grpc::Status s = client_->Write(messages);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return created.sequence_id();
  }
};

TEST_F(KvCacheServiceBigReadTest, ReadInProgressKeepsItsBytesThroughReleaseAndEviction) {
  const std::vector<int32_t> tokens = Tokens(kBigTokens, 100);
  const std::string id = CreateAndWriteBig(tokens);
  pb::ReadKvRequest request;
  request.set_sequence_id(id);
  grpc::ClientContext context;
  client_->Prepare(&context);
  auto reader = client_->stub()->ReadKv(&context, request);
  pb::ReadKvResponse message;
  ASSERT_TRUE(reader->Read(&message));  // the snapshot pins all 64 blocks; most are unsent
  std::string data = message.data();
  ASSERT_TRUE(client_->Release(id).ok());
  // Two more 16 MiB sequences in a 40 MiB pool: the second must evict the first's blocks, and
  // must not get the ones the read still pins.
  for (int i = 0; i < 2; ++i) {
    const std::string other = CreateAndWriteBig(Tokens(kBigTokens, 5000 + 1000 * i));
    ASSERT_TRUE(client_->Release(other).ok());
  }
  pb::GetStatsResponse stats;
  ASSERT_TRUE(client_->Stats(&stats).ok());
  EXPECT_GT(stats.evictions(), 0u);
  while (reader->Read(&message)) {
    EXPECT_EQ(XXH3_64bits(message.data().data(), message.data().size()), message.checksum());
    data += message.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(data == Bytes(testing::KvPattern(tokens, 0, kBigTokens, kBigTokenBytes)));
}

TEST_F(KvCacheServiceTest, NothingLeftToReadIsOneLengthOnlyMessage) {
  const std::vector<int32_t> tokens = Tokens(8, 100);  // exactly 2 full blocks
  const std::string id = CreateAndWrite(tokens);
  auto expect_length_only = [](const ReadResult& read, uint64_t length) {
    ASSERT_TRUE(read.status.ok()) << read.status.error_message();
    ASSERT_EQ(read.messages.size(), 1u);
    const pb::ReadKvResponse& m = read.messages[0];
    EXPECT_EQ(m.num_tokens(), 0u);
    EXPECT_TRUE(m.data().empty());
    EXPECT_EQ(m.sequence_length(), length);
    EXPECT_EQ(m.block_size(), kBlockSize);
  };
  expect_length_only(client_->Read(id, 8), 8);  // from == length
  const ReadResult all = client_->Read(id, 0);
  ASSERT_EQ(all.blocks.size(), 2u);
  expect_length_only(client_->Read(id, 0, {all.blocks[0].key, all.blocks[1].key}), 8);
  // A fresh sequence with nothing committed.
  expect_length_only(client_->Read(client_->CreateId(Tokens(3, 700)), 0), 0);
  // Past the end.
  EXPECT_THAT(client_->Read(id, 9).status,
              IsStatus(grpc::OUT_OF_RANGE, "from_token 9 is past the length 8"));
}

TEST_F(KvCacheServiceTest, PinnedPoolIsResourceExhaustedWithPushbackAndKeepsData) {
  // The witness holds 3 blocks; fill the other 13 with pinned sequences.
  std::vector<std::pair<std::string, std::vector<int32_t>>> pinned;
  for (int i = 0; i < 3; ++i) pinned.emplace_back("", Tokens(16, 1000 * (i + 1)));
  pinned.emplace_back("", Tokens(4, 5000));
  for (auto& [id, tokens] : pinned) id = CreateAndWrite(tokens);
  pb::GetStatsResponse stats;
  ASSERT_TRUE(client_->Stats(&stats).ok());
  ASSERT_EQ(stats.free_bytes(), 0u);

  const std::vector<int32_t> tokens = Tokens(4, 6000);
  const std::string id = client_->CreateId(tokens);
  std::multimap<std::string, std::string> trailers;
  EXPECT_THAT(client_->Write({Begin(id, 0, 4)}, nullptr, &trailers),
              IsStatus(grpc::RESOURCE_EXHAUSTED, "KV cache full: need 512 bytes"));
  ASSERT_EQ(trailers.count("grpc-retry-pushback-ms"), 1u);
  EXPECT_EQ(trailers.find("grpc-retry-pushback-ms")->second, std::to_string(kPushbackMs));

  // An append that needs a new block fails the same way (and carries the hint too).
  const auto& [full_id, full_tokens] = pinned[3];
  pb::AppendKvResponse r;
  trailers.clear();
  ASSERT_TRUE(client_->Append({Item(full_id, 4, Tokens(5, 5000), 4, 5)}, &r, &trailers).ok());
  EXPECT_EQ(r.results(0).code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(r.results(0).message(), HasSubstr("capacity 8192"));
  EXPECT_EQ(trailers.count("grpc-retry-pushback-ms"), 1u);

  // Everything stored is readable and unchanged.
  for (const auto& [pinned_id, pinned_tokens] : pinned) {
    ReadResult read = client_->Read(pinned_id, 0);
    ASSERT_TRUE(read.status.ok());
    EXPECT_TRUE(read.data == Kv(pinned_tokens, 0, pinned_tokens.size()));
  }
  EXPECT_EQ(client_->Length(id), 0u);
  // Releasing one makes its blocks evictable, and the refused write then succeeds.
  ASSERT_TRUE(client_->Release(pinned[0].first).ok());
  ASSERT_TRUE(client_->WriteRange(id, tokens, 0, 4).ok());
  EXPECT_TRUE(client_->Read(id, 0).data == Kv(tokens, 0, 4));
}

TEST_F(KvCacheServiceTest, PrefixIsSharedAcrossSequencesAndLookupHasNoSideEffects) {
  const std::vector<int32_t> tokens = Tokens(10, 100);
  const std::string first = CreateAndWrite(tokens);
  pb::LookupResponse lookup;
  ASSERT_TRUE(client_->Lookup("m", tokens, &lookup).ok());
  EXPECT_EQ(lookup.cached_tokens(), 8u);
  EXPECT_EQ(lookup.block_size(), kBlockSize);
  pb::CreateSequenceResponse created;
  ASSERT_TRUE(client_->Create(tokens, &created).ok());
  EXPECT_EQ(created.cached_tokens(), 8u);
  EXPECT_EQ(created.block_size(), kBlockSize);
  ASSERT_TRUE(client_->WriteRange(created.sequence_id(), tokens, 8, 10).ok());
  EXPECT_TRUE(client_->Read(created.sequence_id(), 0).data == Kv(tokens, 0, 10));
  pb::GetStatsResponse stats;
  ASSERT_TRUE(client_->Stats(&stats).ok());
  EXPECT_EQ(stats.prefix_hit_tokens(), 8u);
  EXPECT_EQ(stats.sequences(), 3u);
}

// --- Against the kv_cache_manager binary. ---

std::unique_ptr<pdserve::testing::Process> StartBinary(std::vector<std::string> args) {
  args.insert(args.begin(), {"--address=127.0.0.1:0", "--capacity=1MiB", "--block_size=4"});
  auto started = pdserve::testing::Process::StartServer(
      pdserve::testing::BinaryPath("kv_cache_manager"), args);
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? *std::move(started) : nullptr;
}

TEST(KvCacheManagerBinaryTest, AbandonedSequenceIsReleasedWhenItsLeaseExpires) {
  auto server = StartBinary({});
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  const std::vector<int32_t> tokens = Tokens(6, 100);
  pb::CreateSequenceResponse abandoned;
  ASSERT_TRUE(client.Create(tokens, &abandoned, "m", kLayout, /*lease_ttl_ms=*/200).ok());
  EXPECT_EQ(abandoned.lease_ttl_ms(), 200u);
  const std::string id = abandoned.sequence_id();
  ASSERT_TRUE(client.WriteRange(id, tokens, 0, 6).ok());
  const std::string kept = client.CreateId(Tokens(6, 300));  // the default lease: 60 s
  ASSERT_TRUE(client.WriteRange(kept, Tokens(6, 300), 0, 6).ok());

  // GetSequence would renew the lease it waits on, so wait on the side-effect-free stats.
  pb::GetStatsResponse stats;
  ASSERT_TRUE(WaitFor([&] { return client.Stats(&stats).ok() && stats.leases_expired() == 1; }))
      << "the lease never expired";
  pb::GetSequenceResponse info;
  EXPECT_THAT(client.GetSequence(id, &info), IsStatus(grpc::NOT_FOUND, "sequence_id"));
  EXPECT_THAT(client.Write({Begin(id, 6, 1)}), IsStatus(grpc::NOT_FOUND, "sequence_id"));
  pb::AppendKvResponse r;
  ASSERT_TRUE(client.Append({Item(id, 6, Tokens(7, 100), 6, 7)}, &r).ok());
  EXPECT_EQ(r.results(0).code(), grpc::NOT_FOUND);
  EXPECT_EQ(stats.sequences(), 1u);
  // Its full block stays cached for future prompts; the other sequence is untouched.
  pb::LookupResponse lookup;
  ASSERT_TRUE(client.Lookup("m", tokens, &lookup).ok());
  EXPECT_EQ(lookup.cached_tokens(), 4u);
  EXPECT_TRUE(client.Read(kept, 0).data == Kv(Tokens(6, 300), 0, 6));
}

TEST(KvCacheManagerBinaryTest, AuthTokenIsRequiredOnEveryRpc) {
  auto server = StartBinary({"--auth_token=s3cret"});
  ASSERT_NE(server, nullptr);
  Client anonymous(server->address());
  Client wrong(server->address(), "guess");
  Client right(server->address(), "s3cret");
  pb::GetStatsResponse stats;
  EXPECT_THAT(anonymous.Stats(&stats), IsStatus(grpc::UNAUTHENTICATED, "authorization"));
  EXPECT_THAT(wrong.Stats(&stats), IsStatus(grpc::PERMISSION_DENIED, "authorization"));
  pb::CreateSequenceResponse created;
  EXPECT_THAT(anonymous.Create(Tokens(4, 1), &created), IsStatus(grpc::UNAUTHENTICATED, ""));
  EXPECT_THAT(wrong.Create(Tokens(4, 1), &created), IsStatus(grpc::PERMISSION_DENIED, ""));

  const std::vector<int32_t> tokens = Tokens(4, 1);
  const std::string id = right.CreateId(tokens);
  EXPECT_THAT(anonymous.WriteRange(id, tokens, 0, 4), IsStatus(grpc::UNAUTHENTICATED, ""));
  EXPECT_THAT(wrong.WriteRange(id, tokens, 0, 4), IsStatus(grpc::PERMISSION_DENIED, ""));
  ASSERT_TRUE(right.WriteRange(id, tokens, 0, 4).ok());
  EXPECT_THAT(anonymous.Read(id, 0).status, IsStatus(grpc::UNAUTHENTICATED, ""));
  EXPECT_THAT(wrong.Read(id, 0).status, IsStatus(grpc::PERMISSION_DENIED, ""));
  pb::AppendKvResponse r;
  EXPECT_THAT(wrong.Append({Item(id, 4, Tokens(5, 1), 4, 5)}, &r),
              IsStatus(grpc::PERMISSION_DENIED, ""));
  pb::GetSequenceResponse info;
  EXPECT_THAT(wrong.GetSequence(id, &info), IsStatus(grpc::PERMISSION_DENIED, ""));
  pb::LookupResponse lookup;
  EXPECT_THAT(wrong.Lookup("m", tokens, &lookup), IsStatus(grpc::PERMISSION_DENIED, ""));
  EXPECT_THAT(wrong.Release(id), IsStatus(grpc::PERMISSION_DENIED, ""));
  // Nothing the refused calls sent was applied.
  EXPECT_EQ(right.Length(id), 4u);
  EXPECT_TRUE(right.Read(id, 0).data == Kv(tokens, 0, 4));
}

TEST(KvCacheManagerBinaryTest, ServesPrometheusMetrics) {
  auto server = StartBinary({"--metrics_port=0"});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<int> metrics_port = server->WaitForPort("kv_cache_manager metrics on ");
  ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
  Client client(server->address());
  const std::vector<int32_t> tokens = Tokens(6, 100);
  const std::string id = client.CreateId(tokens);
  ASSERT_TRUE(client.WriteRange(id, tokens, 0, 6).ok());
  ASSERT_TRUE(client.Read(id, 0).status.ok());
  EXPECT_FALSE(client.Read(id, 7).status.ok());

  const std::string body = pdserve::testing::ScrapeMetrics(*metrics_port);
  EXPECT_THAT(body, HasSubstr("200 OK"));
  EXPECT_THAT(body, HasSubstr(absl::StrCat("pdserve_kvcache_used_bytes ", 2 * 4 * kTokenBytes)));
  EXPECT_THAT(body, HasSubstr("pdserve_kvcache_sequences 1"));
  EXPECT_THAT(body, HasSubstr("pdserve_kvcache_capacity_bytes 1048576"));
  EXPECT_THAT(body, HasSubstr("# TYPE pdserve_kvcache_read_kv_seconds histogram"));
  EXPECT_THAT(body, HasSubstr("pdserve_kvcache_create_sequence_seconds_count 1"));
  EXPECT_THAT(body, HasSubstr("pdserve_kvcache_write_kv_seconds_count 1"));
  // Failed calls are timed too (the second read was OUT_OF_RANGE).
  EXPECT_THAT(body, HasSubstr("pdserve_kvcache_read_kv_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_THAT(body, HasSubstr("pdserve_kvcache_rpc_errors_total 1"));
}

}  // namespace
}  // namespace pdserve::cache_manager
