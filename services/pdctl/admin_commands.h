// `pdctl health` (grpc.health.v1 Check) and `pdctl cache stats` (KvCache GetStats).
#ifndef PDSERVE_SERVICES_PDCTL_ADMIN_COMMANDS_H_
#define PDSERVE_SERVICES_PDCTL_ADMIN_COMMANDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/client_channel.h"

namespace pdserve::pdctl {

struct AdminOptions {
  std::string target;  // HOST:PORT
  common::ChannelOptions channel;
  std::string auth_token;
  absl::Duration timeout = absl::Seconds(5);  // per call
};

// "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" (the server does not know `service`) or
// "UNKNOWN"; an error status when the server cannot be reached. `service` "" = the whole
// server. With `wait` > 0, polls until SERVING or `wait` has passed, returning the last answer.
absl::StatusOr<std::string> CheckHealth(const AdminOptions& options, const std::string& service,
                                        absl::Duration wait);

// The cache manager's counters: as JSON (`json`) or as "field: value" lines.
absl::StatusOr<std::string> CacheStats(const AdminOptions& options, bool json);

}  // namespace pdserve::pdctl

#endif  // PDSERVE_SERVICES_PDCTL_ADMIN_COMMANDS_H_
