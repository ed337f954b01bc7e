// The router's Prometheus metrics: requests, errors, TTFT and time-per-output-token
// histograms, active streams, failovers and the tokens and K/V bytes requests moved.
#ifndef PDSERVE_SERVICES_ROUTER_ROUTER_METRICS_H_
#define PDSERVE_SERVICES_ROUTER_ROUTER_METRICS_H_

#include "services/common/metrics.h"

namespace pdserve::router {

// Thread-safe (the metric objects are). The pointers are owned by the registry.
struct RouterMetrics {
  // Registers every metric in `registry`, which must outlive the returned struct's use.
  explicit RouterMetrics(common::MetricsRegistry* registry);

  common::Counter* requests;          // Generate calls received
  common::Counter* request_errors;    // ended with a non-OK status (incl. cancelled)
  common::Gauge* active_streams;      // validated Generate calls not yet finished
  common::Histogram* ttft_seconds;    // request start to first token
  common::Histogram* tpot_seconds;    // gap between consecutive output tokens
  common::Counter* decode_failovers;  // decode calls replaced mid-stream
  common::Counter* reprefills;        // lost sequences prefilled again
  common::Counter* prompt_tokens;
  common::Counter* reused_tokens;     // prompt tokens served from the prefix cache
  common::Counter* generated_tokens;
  common::Counter* kv_bytes_written;  // by prefill and decode, as reported per request
  common::Counter* kv_bytes_read;
};

}  // namespace pdserve::router

#endif  // PDSERVE_SERVICES_ROUTER_ROUTER_METRICS_H_
