// JSON and text rendering of a generation's result.
#include "services/pdctl/generate_result.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace pdserve::pdctl {

void SetTimings(double first_token_ms, double last_token_ms, GenerateResult* result) {
  result->ttft_ms = first_token_ms;
  result->total_ms = last_token_ms;
  const size_t n = result->token_ids.size();
  if (n > 1 && last_token_ms > first_token_ms) {
    result->tokens_per_s = (n - 1) * 1000.0 / (last_token_ms - first_token_ms);
  } else if (n > 0 && last_token_ms > 0) {
    result->tokens_per_s = n * 1000.0 / last_token_ms;
  }
}

std::string FormatJson(const GenerateResult& r) {
  nlohmann::json j;
  j["token_ids"] = r.token_ids;
  j["text"] = r.text;
  j["finish_reason"] = r.finish_reason;
  j["usage"] = {{"prompt_tokens", r.prompt_tokens},
                {"completion_tokens", r.token_ids.size()},
                {"reused_tokens", r.reused_tokens}};
  j["ttft_ms"] = r.ttft_ms;
  j["total_ms"] = r.total_ms;
  j["tokens_per_s"] = r.tokens_per_s;
  j["mode"] = r.mode;
  j["server"] = {{"ttft_us", r.server_ttft_us},
                 {"mean_tpot_us", r.server_mean_tpot_us},
                 {"decode_retries", r.decode_retries}};
  const inference::v1::HopReport& h = r.report;
  j["report"] = {{"queue_us", h.queue_us()},
                 {"prefill_compute_us", h.prefill_compute_us()},
                 {"kv_write_us", h.kv_write_us()},
                 {"prefix_read_us", h.prefix_read_us()},
                 {"decode_compute_us", h.decode_compute_us()},
                 {"kv_fetch_us", h.kv_fetch_us()},
                 {"append_us", h.append_us()},
                 {"kv_bytes_written", h.kv_bytes_written()},
                 {"kv_bytes_read", h.kv_bytes_read()},
                 {"reused_tokens", h.reused_tokens()}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string FormatHuman(const GenerateResult& r) {
  const inference::v1::HopReport& h = r.report;
  std::string out;
  absl::StrAppend(&out, "tokens: ", absl::StrJoin(r.token_ids, " "), "\n");
  absl::StrAppend(&out, "text: ", r.text, "\n");
  absl::StrAppendFormat(&out, "finish: %s  prompt %u  generated %u  reused %u\n",
                        r.finish_reason, r.prompt_tokens, r.token_ids.size(), r.reused_tokens);
  absl::StrAppendFormat(&out, "TTFT %.2f ms  %.1f tokens/s  total %.2f ms  (%s)\n", r.ttft_ms,
                        r.tokens_per_s, r.total_ms, r.mode);
  if (r.mode == "router") {
    absl::StrAppendFormat(
        &out,
        "hops (us): queue %u  prefill %u  kv_write %u  prefix_read %u  decode %u  kv_fetch %u  "
        "append %u\nkv bytes: written %u  read %u  decode retries %u\n",
        h.queue_us(), h.prefill_compute_us(), h.kv_write_us(), h.prefix_read_us(),
        h.decode_compute_us(), h.kv_fetch_us(), h.append_us(), h.kv_bytes_written(),
        h.kv_bytes_read(), r.decode_retries);
  }
  return out;
}

}  // namespace pdserve::pdctl
