// Client-streaming prompt K/V writer.
#include "services/kv_client/prompt_writer.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"

namespace pdserve::kvclient::internal {

namespace pb = ::pdserve::kvcache::v1;

GrpcPromptWriter::GrpcPromptWriter(pb::KvCache::Stub* stub,
                                   std::unique_ptr<grpc::ClientContext> context,
                                   const PromptWriterOptions& options)
    : options_(options), context_(std::move(context)) {
  stream_ = stub->WriteKv(context_.get(), &response_);
  pb::WriteKvRequest begin;
  begin.mutable_begin()->set_sequence_id(options_.sequence_id);
  begin.mutable_begin()->set_expected_offset(options_.first_token);
  begin.mutable_begin()->set_num_tokens(options_.num_tokens);
  if (!stream_->Write(begin)) {
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
  if (!committed_) stream_->Finish().ok();
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
    pb::WriteKvRequest request;
    pb::KvSlab* slab = request.mutable_slab();
    slab->set_first_token(options_.first_token + t0);
    slab->set_num_tokens(static_cast<uint32_t>(n));
    slab->set_layer_begin(static_cast<uint32_t>(layer.layer));
    slab->set_num_layers(1);
    std::string* data = slab->mutable_data();
    data->resize(n * layer_bytes);
    char* out = data->data();
    const int64_t token_floats = layout.TokenFloats();
    const int64_t layer_offset = layer.layer * layout.LayerFloats();
    for (uint64_t t = 0; t < n; ++t) {
      std::memcpy(out + t * layer_bytes, layer.kv + (t0 + t) * token_floats + layer_offset,
                  layer_bytes);
    }
    if (!stream_->Write(request)) return false;
    bytes_sent_ += n * layer_bytes;
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
    stream_->Write(commit);
  }
  stream_->WritesDone();
  grpc::Status status = stream_->Finish();
  if (!status.ok()) return common::Annotate(common::FromGrpcStatus(status), "cache manager WriteKv");
  if (broken) return absl::UnavailableError("cache manager WriteKv: stream broke while sending");
  return response_.num_tokens();
}

}  // namespace pdserve::kvclient::internal
