// Client-streaming prompt K/V writer.
#include "services/kv_client/prompt_writer.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <grpc/slice.h>

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"

namespace pdserve::kvclient::internal {

namespace pb = ::pdserve::kvcache::v1;

namespace {

// Appends a length-delimited field's tag and `length` as protobuf varints.
void AppendTagAndLength(int field, uint64_t length, std::string* out) {
  for (uint64_t v : {(static_cast<uint64_t>(field) << 3) | 2, length}) {
    for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    out->push_back(static_cast<char>(v));
  }
}

grpc::ByteBuffer Serialized(const pb::WriteKvRequest& request) {
  grpc::Slice slice(request.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

GrpcPromptWriter::GrpcPromptWriter(const std::shared_ptr<grpc::Channel>& channel,
                                   std::unique_ptr<grpc::ClientContext> context,
                                   const PromptWriterOptions& options)
    : options_(options), context_(std::move(context)) {
  grpc::GenericStub generic(channel);
  call_ = generic.PrepareCall(context_.get(), "/pdserve.kvcache.v1.KvCache/WriteKv", &cq_);
  call_->StartCall(nullptr);
  pb::WriteKvRequest begin;
  begin.mutable_begin()->set_sequence_id(options_.sequence_id);
  begin.mutable_begin()->set_expected_offset(options_.first_token);
  begin.mutable_begin()->set_num_tokens(options_.num_tokens);
  if (!Await() || !Send(Serialized(begin))) {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  sender_ = std::thread([this] { SendLoop(); });
}

GrpcPromptWriter::~GrpcPromptWriter() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    if (!committed_) {
      queue_.clear();
      broken_ = true;
    }
  }
  if (!committed_) context_->TryCancel();
  if (sender_.joinable()) sender_.join();
  if (!finished_) {
    grpc::Status status;
    call_->Finish(&status, nullptr);
    Await();
  }
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

bool GrpcPromptWriter::Await() {
  void* tag;
  bool ok = false;
  return cq_.Next(&tag, &ok) && ok;
}

bool GrpcPromptWriter::Send(const grpc::ByteBuffer& message) {
  call_->Write(message, nullptr);
  return Await();
}

void GrpcPromptWriter::WriteLayer(int layer, const float* kv) {
  absl::MutexLock lock(&mu_);
  queue_.push_back({layer, kv});
}

void GrpcPromptWriter::SendLoop() {
  while (true) {
    Layer next;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](GrpcPromptWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->closing_ || w->broken_ || !w->queue_.empty();
          },
          this));
      if (broken_ || queue_.empty()) return;
      next = queue_.front();
      queue_.pop_front();
    }
    if (!SendLayer(next)) {
      absl::MutexLock lock(&mu_);
      broken_ = true;
      return;
    }
  }
}

bool GrpcPromptWriter::SendLayer(const Layer& layer) {
  const decoder::KvLayout& layout = options_.layout;
  const size_t layer_bytes = layout.LayerFloats() * sizeof(float);
  const uint64_t tokens_per_slab =
      std::max<uint64_t>(1, options_.max_slab_bytes / std::max<size_t>(layer_bytes, 1));
  for (uint64_t t0 = 0; t0 < options_.num_tokens; t0 += tokens_per_slab) {
    uint64_t n = std::min(tokens_per_slab, options_.num_tokens - t0);
    // A WriteKvRequest with its slab: the fields before the data, then the data itself, in a
    // buffer of gRPC's that the layer's tokens are gathered into.
    pb::KvSlab fields;
    fields.set_first_token(options_.first_token + t0);
    fields.set_num_tokens(static_cast<uint32_t>(n));
    fields.set_layer_begin(static_cast<uint32_t>(layer.layer));
    fields.set_num_layers(1);
    const size_t data_bytes = n * layer_bytes;
    std::string data_key;
    AppendTagAndLength(pb::KvSlab::kDataFieldNumber, data_bytes, &data_key);
    std::string head;
    AppendTagAndLength(pb::WriteKvRequest::kSlabFieldNumber,
                       fields.ByteSizeLong() + data_key.size() + data_bytes, &head);
    head += fields.SerializeAsString();
    head += data_key;
    grpc::Slice data(grpc_slice_malloc(data_bytes), grpc::Slice::STEAL_REF);
    char* out = reinterpret_cast<char*>(const_cast<uint8_t*>(data.begin()));
    const int64_t token_floats = layout.TokenFloats();
    const int64_t layer_offset = layer.layer * layout.LayerFloats();
    for (uint64_t t = 0; t < n; ++t) {
      std::memcpy(out + t * layer_bytes, layer.kv + (t0 + t) * token_floats + layer_offset,
                  layer_bytes);
    }
    grpc::Slice slices[2] = {grpc::Slice(head), std::move(data)};
    if (!Send(grpc::ByteBuffer(slices, 2))) return false;
    bytes_sent_ += data_bytes;
  }
  return true;
}

absl::StatusOr<uint64_t> GrpcPromptWriter::Commit() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  sender_.join();
  bool broken;
  {
    absl::MutexLock lock(&mu_);
    broken = broken_;
  }
  committed_ = true;
  if (!broken) {
    pb::WriteKvRequest commit;
    commit.mutable_commit();
    Send(Serialized(commit));
  }
  call_->WritesDone(nullptr);
  Await();
  grpc::ByteBuffer reply;
  call_->Read(&reply, nullptr);
  const bool got_reply = Await();
  grpc::Status status;
  call_->Finish(&status, nullptr);
  Await();
  finished_ = true;
  if (!status.ok()) return common::Annotate(common::FromGrpcStatus(status), "cache manager WriteKv");
  if (broken) return absl::UnavailableError("cache manager WriteKv: stream broke while sending");
  pb::WriteKvResponse response;
  if (!got_reply ||
      !grpc::SerializationTraits<pb::WriteKvResponse>::Deserialize(&reply, &response).ok()) {
    return absl::InternalError("cache manager WriteKv: reply is not a WriteKvResponse");
  }
  return response.num_tokens();
}

}  // namespace pdserve::kvclient::internal
