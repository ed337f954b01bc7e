// gRPC adapter of KvCacheManager: the streaming RPCs WriteKv (client streaming) and ReadKv
// (server streaming).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cache_manager/kv_cache_service.h"
#include "cache_manager/slab_request_parser.h"

namespace pdserve::cache_manager {
namespace {

namespace pb = ::pdserve::kvcache::v1;

// One WriteKv stream: a WriteBegin, slabs, a WriteCommit. The core's WriteSession discards
// everything if the stream ends any other way.
//
// WriteKv is a raw method: a slab message is parsed by hand (ParseSlabRequest) and its data
// copied by the core straight from gRPC's slices into the blocks; any other message goes
// through protobuf, so both paths see the same fields and give the same statuses.
class WriteReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  WriteReactor(KvCacheService* service, grpc::CallbackServerContext* context,
               grpc::ByteBuffer* response)
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
    slices_.clear();  // drop gRPC's buffers now, not at the next message
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
    if (request_.Dump(&slices_).ok()) {
      pieces_.clear();
      for (const grpc::Slice& slice : slices_) {
        pieces_.push_back(absl::MakeConstSpan(reinterpret_cast<const std::byte*>(slice.begin()),
                                              slice.size()));
      }
      if (internal::ParseSlabRequest(pieces_, &slab_)) {
        return WriteSlab(KvSlab{slab_.first_token, slab_.num_tokens, slab_.layer_begin,
                                slab_.num_layers, SlabBytes::Pieces(slab_.data)});
      }
    }
    pb::WriteKvRequest request;
    if (!grpc::SerializationTraits<pb::WriteKvRequest>::Deserialize(&request_, &request).ok()) {
      return absl::InvalidArgumentError("WriteKvRequest: not a valid serialized message");
    }
    switch (request.kind_case()) {
      case pb::WriteKvRequest::kBegin: {
        if (session_ != nullptr) {
          return absl::InvalidArgumentError("begin: a stream carries exactly one WriteBegin");
        }
        const pb::WriteBegin& begin = request.begin();
        absl::StatusOr<std::unique_ptr<WriteSession>> session =
            service_->options().manager->BeginWrite(begin.sequence_id(), begin.expected_offset(),
                                                    begin.num_tokens());
        if (!session.ok()) return session.status();
        session_ = *std::move(session);
        return absl::OkStatus();
      }
      case pb::WriteKvRequest::kSlab: {
        const pb::KvSlab& slab = request.slab();
        return WriteSlab(KvSlab{
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
        pb::WriteKvResponse response;
        response.set_num_tokens(*length);
        response.set_bytes_written(session_->bytes_written());
        session_.reset();
        bool own_buffer;
        if (!grpc::SerializationTraits<pb::WriteKvResponse>::Serialize(response, response_,
                                                                       &own_buffer)
                 .ok()) {
          return absl::InternalError("WriteKvResponse: could not serialize");
        }
        done_ = true;
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError("WriteKvRequest: none of begin, slab, commit is set");
    }
  }

  absl::Status WriteSlab(const KvSlab& slab) {
    if (session_ == nullptr) {
      return absl::InvalidArgumentError("slab: sent before the WriteBegin message");
    }
    return session_->Write(slab);
  }

  void Fail(const absl::Status& status) {
    service_->rpc_metrics().errors->Add();
    service_->rpc_metrics().write->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    Finish(service_->Reply(context_, status));
  }

  KvCacheService* const service_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;  // a serialized WriteKvResponse
  const absl::Time start_;
  grpc::ByteBuffer request_;  // a serialized WriteKvRequest
  std::unique_ptr<WriteSession> session_;
  bool done_ = false;
  // Scratch of one message, kept to reuse their memory.
  std::vector<grpc::Slice> slices_;  // request_'s slices, referenced while its slab is copied
  std::vector<absl::Span<const std::byte>> pieces_;  // the same, as bytes
  internal::WireSlab slab_;
};

// Appends `v` as a protobuf varint.
void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// ReadKvResponse.data: field 8, wire type 2 (length-delimited).
static_assert(pb::ReadKvResponse::kDataFieldNumber == 8);
constexpr char kDataTag = (8 << 3) | 2;

// Releases one slice's reference on the snapshot whose pinned memory it points into.
void UnrefSnapshot(void* snapshot) { delete static_cast<std::shared_ptr<ReadSnapshot>*>(snapshot); }

// One ReadKv stream: the snapshot pins the blocks; each is sent in parts of at most
// max_part_bytes, one message in flight at a time. A part is two slices: the other fields of
// ReadKvResponse serialized, ending in the data field's tag and length, then the block's bytes
// themselves, which the transport reads from pinned memory. Each such slice holds a reference on
// the snapshot, so the pins last as long as gRPC holds the bytes, even past this reactor.
class ReadReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  ReadReactor(KvCacheService* service, grpc::CallbackServerContext* context,
              const grpc::ByteBuffer* raw_request)
      : service_(service), context_(context), start_(absl::Now()) {
    absl::Status status = service_->options().auth->Check(*context);
    pb::ReadKvRequest request;
    if (status.ok()) {
      grpc::ByteBuffer copy(*raw_request);  // Deserialize consumes its buffer
      if (!grpc::SerializationTraits<pb::ReadKvRequest>::Deserialize(&copy, &request).ok()) {
        status = absl::InvalidArgumentError("ReadKvRequest: not a valid serialized message");
      }
    }
    if (status.ok()) {
      absl::flat_hash_set<BlockKey> held;
      for (const pb::BlockKey& k : request.held_blocks()) held.insert(BlockKey{k.hi(), k.lo()});
      absl::StatusOr<ReadSnapshot> snapshot =
          service_->options().manager->Read(request.sequence_id(), request.from_token(), held);
      status = snapshot.status();
      if (snapshot.ok()) snapshot_ = std::make_shared<ReadSnapshot>(*std::move(snapshot));
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
    auto blocks = snapshot_->blocks();
    pb::ReadKvResponse header;
    header.set_sequence_length(snapshot_->sequence_length());
    header.set_block_size(snapshot_->block_size());
    if (blocks.empty() && !sent_length_only_) {
      // Nothing to send: one message still tells the reader the sequence's length.
      sent_length_only_ = true;
      header.set_last_part(true);
      grpc::Slice slice(header.SerializeAsString());
      message_ = grpc::ByteBuffer(&slice, 1);
      StartWrite(&message_);
      return;
    }
    if (block_ >= blocks.size()) {
      Done(grpc::Status::OK);
      return;
    }
    const BlockView& view = blocks[block_];
    const size_t part = std::min(service_->options().max_part_bytes, view.data.size() - offset_);
    header.set_block_index(static_cast<uint32_t>(view.block_index));
    header.set_first_token(view.first_token);
    header.set_num_tokens(view.num_tokens);
    if (view.has_key) {
      header.mutable_key()->set_hi(view.key.hi);
      header.mutable_key()->set_lo(view.key.lo);
    }
    header.set_checksum(view.checksum);
    header.set_byte_offset(offset_);
    header.set_last_part(offset_ + part >= view.data.size());
    std::string head = header.SerializeAsString();
    head.push_back(kDataTag);
    AppendVarint(part, &head);
    grpc::Slice slices[2] = {
        grpc::Slice(head),
        grpc::Slice(const_cast<std::byte*>(view.data.data()) + offset_, part, &UnrefSnapshot,
                    new std::shared_ptr<ReadSnapshot>(snapshot_))};
    message_ = grpc::ByteBuffer(slices, part > 0 ? 2 : 1);
    offset_ += part;
    if (offset_ >= view.data.size()) {
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
  std::shared_ptr<ReadSnapshot> snapshot_;  // shared with the data slices in flight
  size_t block_ = 0;   // next block to send
  size_t offset_ = 0;  // next byte of that block
  bool sent_length_only_ = false;
  grpc::ByteBuffer message_;  // in flight until OnWriteDone
};

}  // namespace

grpc::ServerReadReactor<grpc::ByteBuffer>* KvCacheService::WriteKv(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new WriteReactor(this, context, response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* KvCacheService::ReadKv(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return new ReadReactor(this, context, request);
}

}  // namespace pdserve::cache_manager
