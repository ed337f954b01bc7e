// gRPC implementations of the router's backends (callback API: nothing blocks a thread).
#ifndef PDSERVE_SERVICES_ROUTER_GRPC_BACKENDS_H_
#define PDSERVE_SERVICES_ROUTER_GRPC_BACKENDS_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "services/common/auth.h"
#include "services/router/backends.h"

namespace pdserve::router {

// Thread-safe. `auth` must outlive the backend and every call it started.
class GrpcPrefillBackend : public PrefillBackend {
 public:
  GrpcPrefillBackend(std::shared_ptr<grpc::Channel> channel, const common::TokenAuth* auth);
  std::shared_ptr<CallHandle> Prefill(const inference::v1::PrefillRequest& request,
                                      absl::Time deadline, PrefillDone done) override;

 private:
  const std::unique_ptr<inference::v1::Prefill::Stub> stub_;
  const common::TokenAuth* const auth_;
};

// Thread-safe. `auth` must outlive the backend and every call it started.
class GrpcDecodeBackend : public DecodeBackend {
 public:
  GrpcDecodeBackend(std::shared_ptr<grpc::Channel> channel, const common::TokenAuth* auth);
  std::shared_ptr<CallHandle> Decode(const inference::v1::DecodeRequest& request,
                                     absl::Time deadline, DecodeCallbacks callbacks) override;

 private:
  const std::unique_ptr<inference::v1::Decode::Stub> stub_;
  const common::TokenAuth* const auth_;
};

// Thread-safe. `auth` must outlive the backend and every call it started.
class GrpcCacheBackend : public CacheBackend {
 public:
  GrpcCacheBackend(std::shared_ptr<grpc::Channel> channel, const common::TokenAuth* auth);
  void ReleaseSequence(const std::string& sequence_id, absl::Time deadline,
                       std::function<void(absl::Status)> done) override;
  void GetSequence(
      const std::string& sequence_id, absl::Time deadline,
      std::function<void(absl::StatusOr<kvcache::v1::GetSequenceResponse>)> done) override;

 private:
  const std::unique_ptr<kvcache::v1::KvCache::Stub> stub_;
  const common::TokenAuth* const auth_;
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_GRPC_BACKENDS_H_
