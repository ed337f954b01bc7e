// gRPC adapter of KvCacheManager: the streaming RPCs WriteKv (client streaming) and ReadKv
// (server streaming).
#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cache_manager/kv_cache_service.h"

namespace pdserve::cache_manager {
namespace {

namespace pb = ::pdserve::kvcache::v1;

// One WriteKv stream: a WriteBegin, slabs, a WriteCommit. The core's WriteSession discards
// everything if the stream ends any other way.
class WriteReactor final : public grpc::ServerReadReactor<pb::WriteKvRequest> {
 public:
  WriteReactor(KvCacheService* service, grpc::CallbackServerContext* context,
               pb::WriteKvResponse* response)
      : service_(service), context_(context), response_(response), start_(absl::Now()) {
    if (absl::Status auth = service_->options().auth->Check(*context); !auth.ok()) {
      Fail(auth);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or vanished) before a commit: nothing is kept.
      session_.reset();
      Fail(absl::InvalidArgumentError(
          "WriteKv: stream ended without a commit message; nothing was stored"));
      return;
    }
    absl::Status status = Handle();
    if (!status.ok()) {
      session_.reset();
      Fail(status);
      return;
    }
    if (done_) {
      service_->rpc_metrics().write->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
      Finish(grpc::Status::OK);
      return;
    }
    StartRead(&request_);
  }

  void OnCancel() override {}
  void OnDone() override { delete this; }

 private:
  absl::Status Handle() {
    switch (request_.kind_case()) {
      case pb::WriteKvRequest::kBegin: {
        if (session_ != nullptr) {
          return absl::InvalidArgumentError("begin: a stream carries exactly one WriteBegin");
        }
        const pb::WriteBegin& begin = request_.begin();
        absl::StatusOr<std::unique_ptr<WriteSession>> session =
            service_->options().manager->BeginWrite(begin.sequence_id(), begin.expected_offset(),
                                                    begin.num_tokens());
        if (!session.ok()) return session.status();
        session_ = *std::move(session);
        return absl::OkStatus();
      }
      case pb::WriteKvRequest::kSlab: {
        if (session_ == nullptr) {
          return absl::InvalidArgumentError("slab: sent before the WriteBegin message");
        }
        const pb::KvSlab& slab = request_.slab();
        return session_->Write(KvSlab{
            slab.first_token(), slab.num_tokens(), slab.layer_begin(), slab.num_layers(),
            absl::MakeConstSpan(reinterpret_cast<const std::byte*>(slab.data().data()),
                                slab.data().size())});
      }
      case pb::WriteKvRequest::kCommit: {
        if (session_ == nullptr) {
          return absl::InvalidArgumentError("commit: sent before the WriteBegin message");
        }
        absl::StatusOr<uint64_t> length = session_->Commit();
        if (!length.ok()) return length.status();
        response_->set_num_tokens(*length);
        response_->set_bytes_written(session_->bytes_written());
        session_.reset();
        done_ = true;
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError("WriteKvRequest: none of begin, slab, commit is set");
    }
  }

  void Fail(const absl::Status& status) {
    service_->rpc_metrics().errors->Add();
    service_->rpc_metrics().write->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    Finish(service_->Reply(context_, status));
  }

  KvCacheService* const service_;
  grpc::CallbackServerContext* const context_;
  pb::WriteKvResponse* const response_;
  const absl::Time start_;
  pb::WriteKvRequest request_;
  std::unique_ptr<WriteSession> session_;
  bool done_ = false;
};

// One ReadKv stream: the snapshot pins the blocks; each is sent in parts of at most
// max_part_bytes, one message in flight at a time.
class ReadReactor final : public grpc::ServerWriteReactor<pb::ReadKvResponse> {
 public:
  ReadReactor(KvCacheService* service, grpc::CallbackServerContext* context,
              const pb::ReadKvRequest* request)
      : service_(service), context_(context), start_(absl::Now()) {
    absl::Status status = service_->options().auth->Check(*context);
    if (status.ok()) {
      absl::flat_hash_set<BlockKey> held;
      for (const pb::BlockKey& k : request->held_blocks()) held.insert(BlockKey{k.hi(), k.lo()});
      absl::StatusOr<ReadSnapshot> snapshot =
          service_->options().manager->Read(request->sequence_id(), request->from_token(), held);
      status = snapshot.status();
      if (snapshot.ok()) snapshot_ = *std::move(snapshot);
    }
    if (!status.ok()) {
      Done(service_->Reply(context_, status));
      return;
    }
    SendNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Done(grpc::Status(grpc::StatusCode::CANCELLED, "ReadKv: client went away"));
      return;
    }
    SendNext();
  }

  void OnDone() override { delete this; }

 private:
  void SendNext() {
    auto blocks = snapshot_.blocks();
    if (blocks.empty() && !sent_length_only_) {
      // Nothing to send: one message still tells the reader the sequence's length.
      sent_length_only_ = true;
      message_.Clear();
      message_.set_sequence_length(snapshot_.sequence_length());
      message_.set_block_size(snapshot_.block_size());
      message_.set_last_part(true);
      StartWrite(&message_);
      return;
    }
    if (block_ >= blocks.size()) {
      Done(grpc::Status::OK);
      return;
    }
    const BlockView& view = blocks[block_];
    const size_t part = std::min(service_->options().max_part_bytes, view.data.size() - offset_);
    message_.Clear();
    message_.set_block_index(static_cast<uint32_t>(view.block_index));
    message_.set_first_token(view.first_token);
    message_.set_num_tokens(view.num_tokens);
    if (view.has_key) {
      message_.mutable_key()->set_hi(view.key.hi);
      message_.mutable_key()->set_lo(view.key.lo);
    }
    message_.set_checksum(view.checksum);
    message_.set_byte_offset(offset_);
    message_.set_data(reinterpret_cast<const char*>(view.data.data()) + offset_, part);
    message_.set_sequence_length(snapshot_.sequence_length());
    message_.set_block_size(snapshot_.block_size());
    offset_ += part;
    const bool last = offset_ >= view.data.size();
    message_.set_last_part(last);
    if (last) {
      ++block_;
      offset_ = 0;
    }
    StartWrite(&message_);
  }

  // Every call is timed, failed ones included, as the unary RPCs are.
  void Done(const grpc::Status& status) {
    if (!status.ok()) service_->rpc_metrics().errors->Add();
    service_->rpc_metrics().read->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    Finish(status);
  }

  KvCacheService* const service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time start_;
  ReadSnapshot snapshot_;
  size_t block_ = 0;   // next block to send
  size_t offset_ = 0;  // next byte of that block
  bool sent_length_only_ = false;
  pb::ReadKvResponse message_;
};

}  // namespace

grpc::ServerReadReactor<pb::WriteKvRequest>* KvCacheService::WriteKv(
    grpc::CallbackServerContext* context, pb::WriteKvResponse* response) {
  return new WriteReactor(this, context, response);
}

grpc::ServerWriteReactor<pb::ReadKvResponse>* KvCacheService::ReadKv(
    grpc::CallbackServerContext* context, const pb::ReadKvRequest* request) {
  return new ReadReactor(this, context, request);
}

}  // namespace pdserve::cache_manager
