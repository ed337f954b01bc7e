// Starts a gRPC server with the plumbing every pdserve binary shares: health checking,
// reflection, TLS, message limits, a start-up log line, and graceful shutdown.
#ifndef PDSERVE_SERVICES_COMMON_SERVER_RUNNER_H_
#define PDSERVE_SERVICES_COMMON_SERVER_RUNNER_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/tls.h"

namespace pdserve::common {

struct ServerOptions {
  std::string binary_name;            // for the log line, e.g. "kv_cache_manager"
  std::string address = "127.0.0.1:0";  // host:port; port 0 picks a free port
  std::string port_file;              // if set, the chosen port is written there after start
  int max_message_bytes = 64 << 20;   // receive and send limit
  TlsOptions tls;                     // empty = plaintext
  absl::Duration shutdown_grace = absl::Seconds(5);  // in-flight RPCs get this long
};

// A service to register, with its full name for grpc.health.v1 (e.g.
// pdserve::kvcache::v1::KvCache::service_full_name()).
struct ServiceEntry {
  grpc::Service* service;
  std::string full_name;
};

// Thread-safe. Owns the grpc::Server; the services passed to Start must outlive it.
class ServerRunner {
 public:
  // Builds and starts the server with `services` plus grpc.health.v1 and reflection. Health
  // reports every service (and the server, "") NOT_SERVING unless `serving` is true. Prints
  // "<binary_name> listening on HOST:PORT" on stdout.
  static absl::StatusOr<std::unique_ptr<ServerRunner>> Start(
      const ServerOptions& options, const std::vector<ServiceEntry>& services, bool serving);
  ~ServerRunner();

  int port() const { return port_; }
  std::string address() const { return address_; }

  // Sets the health status of every registered service and of the server as a whole ("").
  void SetServing(bool serving);

  // Marks the server NOT_SERVING, lets in-flight RPCs finish within shutdown_grace, then
  // cancels the rest. Idempotent.
  void Shutdown();

  // Blocks until SIGTERM or SIGINT (see shutdown_signal.h), then Shutdown().
  void RunUntilSignal();

 private:
  ServerRunner() = default;

  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> service_names_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_SERVER_RUNNER_H_
