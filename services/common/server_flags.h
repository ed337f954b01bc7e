// Command-line flags every pdserve server shares, and their conversion to options.
#ifndef PDSERVE_SERVICES_COMMON_SERVER_FLAGS_H_
#define PDSERVE_SERVICES_COMMON_SERVER_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "services/common/client_channel.h"
#include "services/common/metrics.h"
#include "services/common/metrics_http_server.h"
#include "services/common/server_runner.h"
#include "services/common/tls.h"

ABSL_DECLARE_FLAG(std::string, address);
ABSL_DECLARE_FLAG(std::string, port_file);
ABSL_DECLARE_FLAG(int, workers);
ABSL_DECLARE_FLAG(int, metrics_port);
ABSL_DECLARE_FLAG(int, max_message_bytes);
ABSL_DECLARE_FLAG(std::string, auth_token);
ABSL_DECLARE_FLAG(std::string, tls_cert_file);
ABSL_DECLARE_FLAG(std::string, tls_key_file);
ABSL_DECLARE_FLAG(std::string, tls_ca_file);

namespace pdserve::common {

// --address, --port_file, --max_message_bytes, --tls_* for a server named `binary_name`.
ServerOptions ServerOptionsFromFlags(std::string binary_name);
// --tls_* as client options (ca_file verifies peers, cert/key are presented).
TlsOptions ClientTlsFromFlags();
// --tls_* and --max_message_bytes as options for channels to other pdserve servers.
ChannelOptions ClientChannelOptionsFromFlags();
// --workers, where 0 (the default) means one per hardware core.
int WorkerThreadsFromFlags();
// Starts the Prometheus endpoint on --address's host when --metrics_port >= 0 and prints
// "<binary_name> metrics on HOST:PORT"; null when the flag is -1. `registry` must outlive it.
absl::StatusOr<std::unique_ptr<MetricsHttpServer>> StartMetricsFromFlags(
    const std::string& binary_name, const MetricsRegistry* registry);

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_SERVER_FLAGS_H_
