// Registration of the router's metrics.
#include "services/router/router_metrics.h"

namespace pdserve::router {

RouterMetrics::RouterMetrics(common::MetricsRegistry* registry)
    : requests(registry->AddCounter("pdserve_router_requests_total", "Generate calls received")),
      request_errors(registry->AddCounter("pdserve_router_request_errors_total",
                                          "Generate calls that ended with an error status")),
      active_streams(registry->AddGauge("pdserve_router_active_streams",
                                        "Generate streams in progress")),
      ttft_seconds(registry->AddHistogram("pdserve_router_ttft_seconds",
                                          "Time from request start to the first token",
                                          common::LatencyBucketsSeconds())),
      tpot_seconds(registry->AddHistogram("pdserve_router_tpot_seconds",
                                          "Time between consecutive output tokens",
                                          common::LatencyBucketsSeconds())),
      decode_failovers(registry->AddCounter("pdserve_router_decode_failovers_total",
                                            "Decode calls replaced after failing mid-stream")),
      reprefills(registry->AddCounter("pdserve_router_reprefills_total",
                                      "Lost sequences prefilled again to resume a generation")),
      prompt_tokens(registry->AddCounter("pdserve_router_prompt_tokens_total",
                                         "Prompt tokens of finished requests")),
      reused_tokens(registry->AddCounter("pdserve_router_prefix_reused_tokens_total",
                                         "Prompt tokens served from the prefix cache")),
      generated_tokens(registry->AddCounter("pdserve_router_generated_tokens_total",
                                            "Tokens sent to clients")),
      kv_bytes_written(registry->AddCounter("pdserve_router_kv_bytes_written_total",
                                            "K/V bytes sent to the cache manager, per reports")),
      kv_bytes_read(registry->AddCounter("pdserve_router_kv_bytes_read_total",
                                         "K/V bytes read from the cache manager, per reports")) {}

}  // namespace pdserve::router
