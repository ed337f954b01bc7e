// Optional TLS and mutual TLS for servers and clients, from PEM files.
#ifndef PDSERVE_SERVICES_COMMON_TLS_H_
#define PDSERVE_SERVICES_COMMON_TLS_H_

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace pdserve::common {

// All empty = plaintext. Server: cert_file + key_file enable TLS; ca_file additionally
// requires and verifies client certificates (mTLS). Client: ca_file enables TLS (verifying the
// server); cert_file + key_file present a client certificate.
struct TlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
};

// INVALID_ARGUMENT naming the flag when a file is missing or only one of cert/key is given.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsOptions& tls);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const TlsOptions& tls);

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_TLS_H_
