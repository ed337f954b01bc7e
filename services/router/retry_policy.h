// Which downstream failures the router retries, and how long it waits between retries.
#ifndef PDSERVE_SERVICES_ROUTER_RETRY_POLICY_H_
#define PDSERVE_SERVICES_ROUTER_RETRY_POLICY_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/router/router_options.h"

namespace pdserve::router {

// Errors a retry cannot fix: the request itself is wrong or not allowed (INVALID_ARGUMENT,
// UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, OUT_OF_RANGE). Everything else (a member
// or the manager down, restarting, a lost sequence, a busy member) may pass.
bool IsPermanent(absl::StatusCode code);

// Before the first token the client is better served by a prompt answer when the K/V pool is
// full or the sequence's state is off: it can retry itself. So RESOURCE_EXHAUSTED and
// FAILED_PRECONDITION are final too.
bool IsPermanentBeforeFirstToken(absl::StatusCode code);

// The wait before retry n (1-based): 0, then initial, 2 * initial, ... capped at max.
absl::Duration RetryBackoff(const RouterOptions& options, int retry);

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_RETRY_POLICY_H_
