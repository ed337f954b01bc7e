// Probes a running server through standard protocols: grpc.health.v1 and server reflection.
#ifndef PDSERVE_TESTS_INTEGRATION_GRPC_PROBE_H_
#define PDSERVE_TESTS_INTEGRATION_GRPC_PROBE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pdserve::testing {

// "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN" for `service` ("" = whole server).
absl::StatusOr<std::string> HealthStatus(const std::string& address, const std::string& service);
// Polls Health/Check until it answers SERVING or `timeout` passes (then DEADLINE_EXCEEDED).
absl::Status WaitServing(const std::string& address, const std::string& service,
                         absl::Duration timeout);
// Services listed by grpc.reflection.v1alpha.
absl::StatusOr<std::vector<std::string>> ListServices(const std::string& address);

}  // namespace pdserve::testing

#endif  // PDSERVE_TESTS_INTEGRATION_GRPC_PROBE_H_
