// Conversion between absl::Status and grpc::Status, used only at the RPC edge.
#ifndef PDSERVE_SERVICES_COMMON_GRPC_STATUS_H_
#define PDSERVE_SERVICES_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pdserve::common {

// Same code and message. Codes are numerically identical between the two libraries.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// "[context] message" with the original code: for errors relayed from another service.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_GRPC_STATUS_H_
