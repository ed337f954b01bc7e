// The pdserve.inference.v1.Router gRPC service: a thin adapter that authenticates the call,
// hands it to RouterCore and streams the core's messages back with flow control.
#ifndef PDSERVE_SERVICES_ROUTER_ROUTER_SERVICE_H_
#define PDSERVE_SERVICES_ROUTER_ROUTER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "services/common/auth.h"
#include "services/router/router_core.h"

namespace pdserve::router {

// Thread-safe. `core` and `auth` must outlive the service and every call it started.
class RouterService final : public inference::v1::Router::CallbackService {
 public:
  RouterService(RouterCore* core, const common::TokenAuth* auth) : core_(core), auth_(auth) {}

  grpc::ServerWriteReactor<inference::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context,
      const inference::v1::GenerateRequest* request) override;

 private:
  RouterCore* const core_;
  const common::TokenAuth* const auth_;
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_ROUTER_SERVICE_H_
