// Optional TLS and mutual TLS from PEM files.
#include "services/common/tls.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace pdserve::common {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Status CheckPair(const TlsOptions& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("tls_cert_file and tls_key_file must be given together");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsOptions& tls) {
  if (absl::Status s = CheckPair(tls); !s.ok()) return s;
  if (tls.cert_file.empty()) {
    if (!tls.ca_file.empty()) {
      return absl::InvalidArgumentError("tls_ca_file needs tls_cert_file and tls_key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options;
  auto cert = ReadPem(tls.cert_file, "tls_cert_file");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls.key_file, "tls_key_file");
  if (!key.ok()) return key.status();
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.ca_file.empty()) {
    auto ca = ReadPem(tls.ca_file, "tls_ca_file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const TlsOptions& tls) {
  if (absl::Status s = CheckPair(tls); !s.ok()) return s;
  if (tls.ca_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  auto ca = ReadPem(tls.ca_file, "tls_ca_file");
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *ca;
  if (!tls.cert_file.empty()) {
    auto cert = ReadPem(tls.cert_file, "tls_cert_file");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(tls.key_file, "tls_key_file");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

}  // namespace pdserve::common
