// The outcome of one `pdctl generate` (through the router or in-process) and its two output
// forms: human-readable text and the JSON scripts rely on.
#ifndef PDSERVE_SERVICES_PDCTL_GENERATE_RESULT_H_
#define PDSERVE_SERVICES_PDCTL_GENERATE_RESULT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "pdserve/inference/v1/inference.pb.h"

namespace pdserve::pdctl {

struct GenerateResult {
  std::string mode;                 // "router" or "local"
  std::vector<int32_t> token_ids;   // generated tokens only
  std::string text;                 // their text
  std::string finish_reason;        // "length" or "stop"
  uint32_t prompt_tokens = 0;
  uint32_t reused_tokens = 0;
  // Measured by pdctl: request start to first token, to last token; decode rate after the
  // first token (all tokens / total time when there is only one).
  double ttft_ms = 0;
  double total_ms = 0;
  double tokens_per_s = 0;
  // As reported by the router (zero for --local).
  uint64_t server_ttft_us = 0;
  uint64_t server_mean_tpot_us = 0;
  uint32_t decode_retries = 0;
  inference::v1::HopReport report;  // all hops of the request
};

// Fills ttft_ms, total_ms and tokens_per_s from times in ms since the request started.
void SetTimings(double first_token_ms, double last_token_ms, GenerateResult* result);

// One JSON object (invalid UTF-8 in text is replaced, never fatal). Stable keys:
// token_ids, text, finish_reason, usage{prompt_tokens, completion_tokens, reused_tokens},
// ttft_ms, total_ms, tokens_per_s, mode, server{ttft_us, mean_tpot_us, decode_retries},
// report{queue_us, prefill_compute_us, kv_write_us, prefix_read_us, decode_compute_us,
// kv_fetch_us, append_us, kv_bytes_written, kv_bytes_read, reused_tokens}.
std::string FormatJson(const GenerateResult& result);
// A few lines for people.
std::string FormatHuman(const GenerateResult& result);

}  // namespace pdserve::pdctl

#endif  // PDSERVE_SERVICES_PDCTL_GENERATE_RESULT_H_
