// Optional bearer-token authentication: servers check the "authorization" metadata of every
// call; clients attach it.
#ifndef PDSERVE_SERVICES_COMMON_AUTH_H_
#define PDSERVE_SERVICES_COMMON_AUTH_H_

#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "absl/status/status.h"

namespace pdserve::common {

// Thread-safe (immutable). An empty token disables the check.
class TokenAuth {
 public:
  explicit TokenAuth(std::string token) : token_(std::move(token)) {}

  // OK when auth is off or the call carries "authorization: Bearer <token>";
  // UNAUTHENTICATED when the header is missing, PERMISSION_DENIED when the token differs.
  absl::Status Check(const grpc::ServerContextBase& context) const;

  // Adds the header to an outgoing call (no-op when the token is empty).
  void Attach(grpc::ClientContext* context) const;

  bool enabled() const { return !token_.empty(); }

 private:
  const std::string token_;
};

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_AUTH_H_
