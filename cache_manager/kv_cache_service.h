// gRPC adapter of KvCacheManager (pdserve.kvcache.v1.KvCache): parses and validates requests,
// calls the core, maps results and statuses back. Holds no cache state of its own.
#ifndef PDSERVE_CACHE_MANAGER_KV_CACHE_SERVICE_H_
#define PDSERVE_CACHE_MANAGER_KV_CACHE_SERVICE_H_

#include "cache_manager/kv_cache_manager.h"
// The generated WithRawCallbackMethod_* hide the typed overloads by design; clang's
// -Woverloaded-virtual would flag that inside generated code.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Woverloaded-virtual"
#endif
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
#include "services/common/auth.h"
#include "services/common/metrics.h"

namespace pdserve::cache_manager {

struct KvCacheServiceOptions {
  KvCacheManager* manager = nullptr;           // not owned
  const common::TokenAuth* auth = nullptr;     // not owned
  common::MetricsRegistry* metrics = nullptr;  // not owned
  size_t max_part_bytes = size_t{1} << 20;     // bytes per ReadKv message
  int retry_pushback_ms = 100;                 // hint sent with RESOURCE_EXHAUSTED
};

// Per-RPC latency histograms.
struct KvCacheRpcMetrics {
  explicit KvCacheRpcMetrics(common::MetricsRegistry* registry);
  common::Histogram* create;
  common::Histogram* write;
  common::Histogram* append;
  common::Histogram* read;
  common::Histogram* release;
  common::Histogram* get_sequence;
  common::Histogram* lookup;
  common::Histogram* stats;
  common::Counter* errors;
};

// Thread-safe. Every method runs in gRPC's callback reactions: each does bounded work (metadata
// under the core's lock, or one copy of at most one message's payload) and never waits.
//
// The bulk methods are raw (kv_cache_service_streams.cc), so K/V bytes are never copied into a
// protobuf message; the wire formats are exactly the messages'. ReadKv frames its responses by
// hand: block bytes go to the transport straight from the snapshot's pinned memory. WriteKv
// parses slab messages by hand: their data is copied from gRPC's slices straight into blocks.
class KvCacheService final
    : public pdserve::kvcache::v1::KvCache::WithRawCallbackMethod_WriteKv<
          pdserve::kvcache::v1::KvCache::WithRawCallbackMethod_ReadKv<
              pdserve::kvcache::v1::KvCache::CallbackService>> {
 public:
  explicit KvCacheService(const KvCacheServiceOptions& options);

  grpc::ServerUnaryReactor* CreateSequence(
      grpc::CallbackServerContext* context,
      const pdserve::kvcache::v1::CreateSequenceRequest* request,
      pdserve::kvcache::v1::CreateSequenceResponse* response) override;
  // Each request a serialized WriteKvRequest; `response` a serialized WriteKvResponse.
  grpc::ServerReadReactor<grpc::ByteBuffer>* WriteKv(grpc::CallbackServerContext* context,
                                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* AppendKv(grpc::CallbackServerContext* context,
                                     const pdserve::kvcache::v1::AppendKvRequest* request,
                                     pdserve::kvcache::v1::AppendKvResponse* response) override;
  // `request` is a serialized ReadKvRequest; each response a serialized ReadKvResponse.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* ReadKv(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ReleaseSequence(
      grpc::CallbackServerContext* context,
      const pdserve::kvcache::v1::ReleaseSequenceRequest* request,
      pdserve::kvcache::v1::ReleaseSequenceResponse* response) override;
  grpc::ServerUnaryReactor* GetSequence(grpc::CallbackServerContext* context,
                                        const pdserve::kvcache::v1::GetSequenceRequest* request,
                                        pdserve::kvcache::v1::GetSequenceResponse* response) override;
  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   const pdserve::kvcache::v1::LookupRequest* request,
                                   pdserve::kvcache::v1::LookupResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const pdserve::kvcache::v1::GetStatsRequest* request,
                                     pdserve::kvcache::v1::GetStatsResponse* response) override;

  // Shared by the reactors in kv_cache_service_streams.cc.
  // Maps `status` to gRPC, adding the retry-pushback trailer to RESOURCE_EXHAUSTED.
  grpc::Status Reply(grpc::CallbackServerContext* context, const absl::Status& status) const;
  // Adds the grpc-retry-pushback-ms trailer (also sent by AppendKv when an item of an OK call
  // failed RESOURCE_EXHAUSTED).
  void AddRetryPushback(grpc::CallbackServerContext* context) const;
  const KvCacheServiceOptions& options() const { return options_; }
  KvCacheRpcMetrics& rpc_metrics() { return rpc_metrics_; }

 private:
  // Finishes a unary call: records latency and maps the status.
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                        common::Histogram* latency, absl::Time start,
                                        const absl::Status& status);

  const KvCacheServiceOptions options_;
  KvCacheRpcMetrics rpc_metrics_;
};

// Conversions at the edge (also used by tests).
absl::StatusOr<KvLayout> LayoutFromProto(const pdserve::kvcache::v1::KvLayout& layout);
void LayoutToProto(const KvLayout& layout, pdserve::kvcache::v1::KvLayout* out);

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_KV_CACHE_SERVICE_H_
