// Client helpers of kv_cache_service_test: a KvCache client whose every call has a deadline,
// message builders, ReadKv reassembly with part and checksum checks, and a status matcher.
#ifndef PDSERVE_CACHE_MANAGER_KV_CACHE_SERVICE_TEST_CLIENT_H_
#define PDSERVE_CACHE_MANAGER_KV_CACHE_SERVICE_TEST_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cache_manager/kv_cache_service.h"
#include "cache_manager/kv_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pdserve::cache_manager::service_testing {

// 2 layers x 2 (K, V) x 2 heads x 4 dims x 4 bytes = 128 bytes per token, 512 per block.
inline constexpr KvLayout kLayout{2, 2, 4, DType::kF32};
inline constexpr uint64_t kTokenBytes = 128;
inline constexpr uint64_t kLayerBytes = 64;
inline constexpr absl::Duration kRpcDeadline = absl::Seconds(10);
inline constexpr absl::Duration kWaitDeadline = absl::Seconds(10);

inline std::vector<int32_t> Tokens(int n, int32_t first) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = first + i;
  return t;
}

inline std::string Bytes(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

// Token-major K/V of tokens [begin, end) of `tokens`, all layers.
inline std::string Kv(const std::vector<int32_t>& tokens, uint64_t begin, uint64_t end) {
  return Bytes(::pdserve::cache_manager::testing::KvPattern(tokens, begin, end, kTokenBytes));
}

::pdserve::kvcache::v1::WriteKvRequest Begin(const std::string& id, uint64_t offset, uint64_t n);

::pdserve::kvcache::v1::WriteKvRequest Slab(uint64_t first, uint32_t n, uint32_t layer_begin,
                                            uint32_t num_layers, std::string data);

// Layers [layer_begin, +num_layers) of tokens [first, first + n) of `tokens`.
::pdserve::kvcache::v1::WriteKvRequest LayerSlab(const std::vector<int32_t>& tokens, uint64_t first,
                                                 uint32_t n, uint32_t layer_begin,
                                                 uint32_t num_layers);

::pdserve::kvcache::v1::WriteKvRequest Commit();

::pdserve::kvcache::v1::AppendItem Item(const std::string& id, uint64_t offset,
                                        const std::vector<int32_t>& tokens, uint64_t begin,
                                        uint64_t end);

// A block reassembled from its ReadKv parts.
struct ReadBlock {
  uint32_t block_index = 0;
  uint64_t first_token = 0;
  uint32_t num_tokens = 0;
  bool has_key = false;
  ::pdserve::kvcache::v1::BlockKey key;
  uint64_t checksum = 0;
  std::string data;
};

struct ReadResult {
  grpc::Status status;
  std::vector<::pdserve::kvcache::v1::ReadKvResponse> messages;
  std::vector<ReadBlock> blocks;
  std::string data;  // every block's bytes in order
};

// A KvCache client whose every call has a deadline (and the bearer token, when given).
class Client {
 public:
  // `part_bytes`: the server's ReadKv part size, checked on every part.
  explicit Client(const std::string& address, std::string token = "",
                  size_t part_bytes = size_t{1} << 20)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(::pdserve::kvcache::v1::KvCache::NewStub(channel_)),
        token_(std::move(token)),
        part_bytes_(part_bytes) {}

  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
  }

  grpc::Status Create(const std::vector<int32_t>& prompt,
                      ::pdserve::kvcache::v1::CreateSequenceResponse* out,
                      const std::string& ns = "m", const KvLayout& layout = kLayout,
                      uint32_t lease_ttl_ms = 0) {
    ::pdserve::kvcache::v1::CreateSequenceRequest request;
    request.set_model_namespace(ns);
    LayoutToProto(layout, request.mutable_layout());
    request.mutable_token_ids()->Add(prompt.begin(), prompt.end());
    request.set_lease_ttl_ms(lease_ttl_ms);
    grpc::ClientContext context;
    Prepare(&context);
    return stub_->CreateSequence(&context, request, out);
  }

  // Creates a sequence and returns its id ("" on failure, with a test failure).
  std::string CreateId(const std::vector<int32_t>& prompt, const std::string& ns = "m") {
    ::pdserve::kvcache::v1::CreateSequenceResponse response;
    grpc::Status s = Create(prompt, &response, ns);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.sequence_id();
  }

  // Sends `messages` on one WriteKv stream (stopping when the server ends it), half-closes
  // and returns the status; `trailers` receives the server's trailing metadata.
  grpc::Status Write(const std::vector<::pdserve::kvcache::v1::WriteKvRequest>& messages,
                     ::pdserve::kvcache::v1::WriteKvResponse* out = nullptr,
                     std::multimap<std::string, std::string>* trailers = nullptr);

  // As Write(), with each message given as its serialized bytes (which need not be a valid
  // WriteKvRequest), each sent as one slice.
  grpc::Status WriteBytes(const std::vector<std::string>& messages,
                          ::pdserve::kvcache::v1::WriteKvResponse* out = nullptr);

  // Writes all layers of tokens [begin, end) of `tokens` in one slab and commits.
  grpc::Status WriteRange(const std::string& id, const std::vector<int32_t>& tokens, uint64_t begin,
                          uint64_t end) {
    return Write({Begin(id, begin, end - begin),
                  Slab(begin, static_cast<uint32_t>(end - begin), 0, kLayout.num_layers,
                       Kv(tokens, begin, end)),
                  Commit()});
  }

  grpc::Status Append(const std::vector<::pdserve::kvcache::v1::AppendItem>& items,
                      ::pdserve::kvcache::v1::AppendKvResponse* out,
                      std::multimap<std::string, std::string>* trailers = nullptr);

  // Reads from `from`, reassembles the blocks and checks the framing of their parts and each
  // block's XXH3-64 against its checksum (as test failures).
  ReadResult Read(const std::string& id, uint64_t from,
                  const std::vector<::pdserve::kvcache::v1::BlockKey>& held = {});

  grpc::Status GetSequence(const std::string& id,
                           ::pdserve::kvcache::v1::GetSequenceResponse* out) {
    ::pdserve::kvcache::v1::GetSequenceRequest request;
    request.set_sequence_id(id);
    grpc::ClientContext context;
    Prepare(&context);
    return stub_->GetSequence(&context, request, out);
  }

  grpc::Status Release(const std::string& id) {
    ::pdserve::kvcache::v1::ReleaseSequenceRequest request;
    request.set_sequence_id(id);
    ::pdserve::kvcache::v1::ReleaseSequenceResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    return stub_->ReleaseSequence(&context, request, &response);
  }

  grpc::Status Lookup(const std::string& ns, const std::vector<int32_t>& tokens,
                      ::pdserve::kvcache::v1::LookupResponse* out) {
    ::pdserve::kvcache::v1::LookupRequest request;
    request.set_model_namespace(ns);
    request.mutable_token_ids()->Add(tokens.begin(), tokens.end());
    grpc::ClientContext context;
    Prepare(&context);
    return stub_->Lookup(&context, request, out);
  }

  grpc::Status Stats(::pdserve::kvcache::v1::GetStatsResponse* out) {
    grpc::ClientContext context;
    Prepare(&context);
    return stub_->GetStats(&context, ::pdserve::kvcache::v1::GetStatsRequest(), out);
  }

  uint64_t Length(const std::string& id) {
    ::pdserve::kvcache::v1::GetSequenceResponse response;
    grpc::Status s = GetSequence(id, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.num_tokens();
  }

  ::pdserve::kvcache::v1::KvCache::Stub* stub() { return stub_.get(); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::pdserve::kvcache::v1::KvCache::Stub> stub_;
  std::string token_;
  size_t part_bytes_;
};

MATCHER_P2(IsStatus, code, substring, "") {
  if (arg.error_code() == code && arg.error_message().find(substring) != std::string::npos) {
    return true;
  }
  *result_listener << "status " << arg.error_code() << ": " << arg.error_message();
  return false;
}

// Polls `done` until it is true or kWaitDeadline passes; returns the last answer.
template <typename F>
inline bool WaitFor(F done) {
  const absl::Time deadline = absl::Now() + kWaitDeadline;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace pdserve::cache_manager::service_testing

#endif  // PDSERVE_CACHE_MANAGER_KV_CACHE_SERVICE_TEST_CLIENT_H_
