// gRPC implementation of KvCacheClient.
#include "services/kv_client/kv_cache_client.h"

#include <cstring>

#include <xxhash.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "services/common/grpc_status.h"
#include "services/kv_client/prompt_writer.h"

namespace pdserve::kvclient {
namespace {

namespace pb = ::pdserve::kvcache::v1;

pb::KvLayout ToProto(const decoder::KvLayout& layout) {
  pb::KvLayout out;
  out.set_num_layers(layout.num_layers);
  out.set_num_kv_heads(layout.num_kv_heads);
  out.set_head_dim(layout.head_dim);
  out.set_dtype(pb::DTYPE_F32);
  return out;
}

absl::Status FromRpc(const grpc::Status& status, absl::string_view method) {
  return common::Annotate(common::FromGrpcStatus(status), absl::StrCat("cache manager ", method));
}

absl::Status CancelledCall(absl::string_view method) {
  return absl::CancelledError(absl::StrCat("cache manager ", method, ": cancelled by the caller"));
}

class GrpcKvCacheClient : public KvCacheClient {
 public:
  GrpcKvCacheClient(const KvCacheClientOptions& options, std::shared_ptr<grpc::Channel> channel)
      : options_(options),
        auth_(options.auth_token),
        channel_(std::move(channel)),
        stub_(pb::KvCache::NewStub(channel_)),
        health_(grpc::health::v1::Health::NewStub(channel_)) {}

  absl::StatusOr<CreatedSequence> CreateSequence(const std::string& model_namespace,
                                                 const decoder::KvLayout& layout,
                                                 absl::Span<const int32_t> tokens,
                                                 absl::Duration lease_ttl) override {
    pb::CreateSequenceRequest request;
    request.set_model_namespace(model_namespace);
    *request.mutable_layout() = ToProto(layout);
    request.mutable_token_ids()->Add(tokens.begin(), tokens.end());
    request.set_lease_ttl_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(lease_ttl)));
    pb::CreateSequenceResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    grpc::Status status = stub_->CreateSequence(&context, request, &response);
    if (!status.ok()) return FromRpc(status, "CreateSequence");
    return CreatedSequence{response.sequence_id(), response.cached_tokens(),
                           response.block_size()};
  }

  absl::StatusOr<std::unique_ptr<PromptWriter>> BeginWrite(const std::string& sequence_id,
                                                           const decoder::KvLayout& layout,
                                                           uint64_t first_token,
                                                           uint64_t num_tokens) override {
    auto context = std::make_unique<grpc::ClientContext>();
    Prepare(context.get());
    internal::PromptWriterOptions options{sequence_id, layout, first_token, num_tokens,
                                          options_.max_slab_bytes};
    return std::unique_ptr<PromptWriter>(
        new internal::GrpcPromptWriter(channel_, std::move(context), options));
  }

  absl::StatusOr<std::vector<absl::Status>> Append(
      absl::Span<const AppendRequestItem> items) override {
    pb::AppendKvRequest request;
    for (const AppendRequestItem& item : items) {
      pb::AppendItem* out = request.add_items();
      out->set_sequence_id(item.sequence_id);
      out->set_expected_offset(item.expected_offset);
      out->mutable_token_ids()->Add(item.token_ids.begin(), item.token_ids.end());
      out->set_data(reinterpret_cast<const char*>(item.kv.data()), item.kv.size() * sizeof(float));
    }
    pb::AppendKvResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    grpc::Status status = stub_->AppendKv(&context, request, &response);
    if (!status.ok()) return FromRpc(status, "AppendKv");
    std::vector<absl::Status> results;
    for (const pb::ItemResult& r : response.results()) {
      results.push_back(
          r.code() == 0 ? absl::OkStatus()
                        : absl::Status(static_cast<absl::StatusCode>(r.code()),
                                       absl::StrCat("cache manager AppendKv: ", r.message())));
    }
    if (results.size() != items.size()) {
      return absl::InternalError("cache manager AppendKv: result count differs from items");
    }
    return results;
  }

  absl::StatusOr<ReadResult> Read(const std::string& sequence_id, uint64_t from_token,
                                  absl::Span<const BlockKey> held,
                                  const decoder::KvLayout& layout,
                                  CallCanceller* cancel) override {
    if (cancel != nullptr && cancel->cancelled()) return CancelledCall("ReadKv");
    pb::ReadKvRequest request;
    request.set_sequence_id(sequence_id);
    request.set_from_token(from_token);
    for (const BlockKey& key : held) {
      pb::BlockKey* k = request.add_held_blocks();
      k->set_hi(key.hi);
      k->set_lo(key.lo);
    }
    grpc::ClientContext context;
    Prepare(&context);
    CallCanceller::Registration abort(cancel, [&context] { context.TryCancel(); });
    auto stream = stub_->ReadKv(&context, request);
    ReadResult result;
    const size_t token_bytes = layout.TokenFloats() * sizeof(float);
    pb::ReadKvResponse part;
    std::shared_ptr<std::vector<float>> current;
    while (stream->Read(&part)) {
      result.sequence_length = part.sequence_length();
      result.block_size = part.block_size();
      if (part.num_tokens() == 0) continue;  // length-only message: nothing to read
      if (part.byte_offset() == 0) {
        KvBlock block;
        block.index = part.block_index();
        block.first_token = part.first_token();
        block.num_tokens = part.num_tokens();
        if (part.has_key()) block.key = BlockKey{part.key().hi(), part.key().lo()};
        current = std::make_shared<std::vector<float>>(part.num_tokens() * layout.TokenFloats());
        block.data = current;
        result.blocks.push_back(std::move(block));
      }
      const size_t total = static_cast<size_t>(part.num_tokens()) * token_bytes;
      if (current == nullptr || part.byte_offset() + part.data().size() > total) {
        context.TryCancel();
        stream->Finish().ok();
        return absl::DataLossError(absl::StrCat("cache manager ReadKv: block ", part.block_index(),
                                                " part exceeds its ", total, " bytes"));
      }
      std::memcpy(reinterpret_cast<char*>(current->data()) + part.byte_offset(),
                  part.data().data(), part.data().size());
      result.bytes += part.data().size();
      if (part.last_part()) {
        uint64_t checksum = XXH3_64bits(current->data(), total);
        if (checksum != part.checksum()) {
          context.TryCancel();
          stream->Finish().ok();
          return absl::DataLossError(absl::StrCat("cache manager ReadKv: block ",
                                                  part.block_index(), " of sequence ",
                                                  sequence_id, " fails its checksum"));
        }
        current = nullptr;
      }
    }
    grpc::Status status = stream->Finish();
    if (!status.ok()) return FromRpc(status, "ReadKv");
    return result;
  }

  absl::Status Release(const std::string& sequence_id) override {
    pb::ReleaseSequenceRequest request;
    request.set_sequence_id(sequence_id);
    pb::ReleaseSequenceResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    grpc::Status status = stub_->ReleaseSequence(&context, request, &response);
    if (!status.ok()) return FromRpc(status, "ReleaseSequence");
    return absl::OkStatus();
  }

  absl::StatusOr<SequenceState> GetSequence(const std::string& sequence_id,
                                            CallCanceller* cancel) override {
    if (cancel != nullptr && cancel->cancelled()) return CancelledCall("GetSequence");
    pb::GetSequenceRequest request;
    request.set_sequence_id(sequence_id);
    pb::GetSequenceResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    CallCanceller::Registration abort(cancel, [&context] { context.TryCancel(); });
    grpc::Status status = stub_->GetSequence(&context, request, &response);
    if (!status.ok()) return FromRpc(status, "GetSequence");
    SequenceState state;
    state.num_tokens = response.num_tokens();
    state.prompt_tokens = response.prompt_tokens();
    state.token_ids.assign(response.token_ids().begin(), response.token_ids().end());
    return state;
  }

  bool Healthy(absl::Duration timeout) override {
    grpc::ClientContext context;
    common::PrepareContext(&context, timeout, auth_);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health_->Check(&context, request, &response);
    return status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

 private:
  void Prepare(grpc::ClientContext* context) {
    common::PrepareContext(context, options_.rpc_timeout, auth_);
  }

  const KvCacheClientOptions options_;
  const common::TokenAuth auth_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KvCache::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KvCacheClient>> KvCacheClient::Create(
    const KvCacheClientOptions& options) {
  auto channel = common::MakeChannel(options.target, options.channel);
  if (!channel.ok()) return common::Annotate(channel.status(), "cache_manager");
  return std::unique_ptr<KvCacheClient>(new GrpcKvCacheClient(options, *std::move(channel)));
}

}  // namespace pdserve::kvclient
