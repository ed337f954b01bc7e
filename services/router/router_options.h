// Options of the router core: the served model, request limits, downstream timeouts and the
// retry policy used when a pool member or the cache manager fails mid-request.
#ifndef PDSERVE_SERVICES_ROUTER_ROUTER_OPTIONS_H_
#define PDSERVE_SERVICES_ROUTER_ROUTER_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace pdserve::router {

struct RouterOptions {
  // Largest limits.max_new_tokens a request may ask for.
  uint32_t max_new_tokens_limit = 4096;

  // Per-call timeouts, each also capped by the client's own deadline.
  absl::Duration prefill_timeout = absl::Seconds(120);
  absl::Duration decode_timeout = absl::Minutes(30);  // a whole decode stream
  absl::Duration cache_timeout = absl::Seconds(5);    // GetSequence / ReleaseSequence

  // Attempts at the initial prefill (each on the least-loaded instance not yet tried, when
  // there is one) before the error goes back to the client.
  int max_prefill_attempts = 3;
  // Retries after the first token has been sent: decode failover, re-prefill, waiting for the
  // cache manager to come back. The client has tokens already, so this budget is larger.
  int max_recovery_retries = 20;
  // Back-off between retries: initial * 2^n, capped.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(1);
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_ROUTER_OPTIONS_H_
