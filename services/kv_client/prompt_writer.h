// The gRPC implementation of PromptWriter: a client-streaming WriteKv call fed by a background
// thread, so layer i is on the wire while layer i+1 computes. Slab messages are framed by hand:
// a layer's K/V is gathered once, straight into the buffer gRPC sends, rather than into a
// protobuf message and again into gRPC's buffer by its serializer.
#ifndef PDSERVE_SERVICES_KV_CLIENT_PROMPT_WRITER_H_
#define PDSERVE_SERVICES_KV_CLIENT_PROMPT_WRITER_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "services/kv_client/kv_cache_client.h"

namespace pdserve::kvclient::internal {

struct PromptWriterOptions {
  std::string sequence_id;
  decoder::KvLayout layout;
  uint64_t first_token = 0;
  uint64_t num_tokens = 0;
  size_t max_slab_bytes = size_t{1} << 20;
};

// Thread-compatible for its one producer; the sending thread is internal.
class GrpcPromptWriter : public PromptWriter {
 public:
  // `context` carries deadline and auth; the stream starts immediately.
  GrpcPromptWriter(const std::shared_ptr<grpc::Channel>& channel,
                   std::unique_ptr<grpc::ClientContext> context,
                   const PromptWriterOptions& options);
  ~GrpcPromptWriter() override;

  void WriteLayer(int layer, const float* kv) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<uint64_t> Commit() override ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t bytes_sent() const override { return bytes_sent_; }

 private:
  struct Layer {
    int layer;
    const float* kv;
  };
  void SendLoop();
  // Sends one layer as slabs of at most max_slab_bytes. False when the stream broke.
  bool SendLayer(const Layer& layer);
  // Sends one serialized WriteKvRequest and waits until gRPC has taken it. False when the
  // stream broke.
  bool Send(const grpc::ByteBuffer& message);
  // Waits for the one operation in flight on the call; returns its outcome. Operations never
  // overlap: the constructor, then the sending thread, then Commit() or the destructor (after
  // joining it) take turns.
  bool Await();

  const PromptWriterOptions options_;
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;  // WriteKv, as raw bytes
  bool finished_ = false;  // call_->Finish() ran
  std::atomic<uint64_t> bytes_sent_{0};

  absl::Mutex mu_;
  std::deque<Layer> queue_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // no more layers will be queued
  bool broken_ ABSL_GUARDED_BY(mu_) = false;   // a Write failed
  bool committed_ = false;                     // used by the producer thread only
  std::thread sender_;
};

}  // namespace pdserve::kvclient::internal

#endif  // PDSERVE_SERVICES_KV_CLIENT_PROMPT_WRITER_H_
