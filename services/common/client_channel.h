// Client channels and per-call contexts with the deadline, auth and TLS every call must carry.
#ifndef PDSERVE_SERVICES_COMMON_CLIENT_CHANNEL_H_
#define PDSERVE_SERVICES_COMMON_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/auth.h"
#include "services/common/tls.h"

namespace pdserve::common {

struct ChannelOptions {
  TlsOptions tls;
  int max_message_bytes = 64 << 20;
};

// A channel to host:port. INVALID_ARGUMENT for bad TLS files or an empty target.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelOptions& options);

// Sets the deadline (now + timeout) and the auth header on `context`.
void PrepareContext(grpc::ClientContext* context, absl::Duration timeout, const TokenAuth& auth);

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_CLIENT_CHANNEL_H_
