// Command-line flags every pdserve server shares.
#include "services/common/server_flags.h"

#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0", "host:port to listen on; port 0 picks a free one");
ABSL_FLAG(std::string, port_file, "", "if set, write the chosen port to this file after start");
ABSL_FLAG(int, workers, 0, "worker threads for model/storage work; 0 = one per core");
ABSL_FLAG(int, metrics_port, -1,
          "Prometheus /metrics HTTP port on the listen host; 0 = pick a free one, -1 = off");
ABSL_FLAG(int, max_message_bytes, 64 << 20, "largest gRPC message accepted or sent");
ABSL_FLAG(std::string, auth_token, "",
          "if set, calls must carry 'authorization: Bearer <token>' (and outgoing calls do)");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate: serve TLS / present as client");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM roots: require+verify client certs (server, mTLS); verify servers (client)");

namespace pdserve::common {

ServerOptions ServerOptionsFromFlags(std::string binary_name) {
  ServerOptions options;
  options.binary_name = std::move(binary_name);
  options.address = absl::GetFlag(FLAGS_address);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.tls = {absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                 absl::GetFlag(FLAGS_tls_ca_file)};
  return options;
}

TlsOptions ClientTlsFromFlags() {
  return {absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
          absl::GetFlag(FLAGS_tls_ca_file)};
}

ChannelOptions ClientChannelOptionsFromFlags() {
  ChannelOptions options;
  options.tls = ClientTlsFromFlags();
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  return options;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> StartMetricsFromFlags(
    const std::string& binary_name, const MetricsRegistry* registry) {
  const int port = absl::GetFlag(FLAGS_metrics_port);
  if (port < 0) return std::unique_ptr<MetricsHttpServer>();
  const std::string address = absl::GetFlag(FLAGS_address);
  const std::string host = address.substr(0, address.rfind(':'));
  auto server = MetricsHttpServer::Start(host, port, registry);
  if (!server.ok()) return server.status();
  std::printf("%s metrics on %s:%d\n", binary_name.c_str(), host.c_str(), (*server)->port());
  std::fflush(stdout);
  return server;
}

int WorkerThreadsFromFlags() {
  int workers = absl::GetFlag(FLAGS_workers);
  if (workers > 0) return workers;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return cores > 0 ? cores : 1;
}

}  // namespace pdserve::common
