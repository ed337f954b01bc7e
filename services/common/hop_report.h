// Per-request timings of each hop and K/V bytes moved; the core-side twin of the
// pdserve.inference.v1.HopReport message.
#ifndef PDSERVE_SERVICES_COMMON_HOP_REPORT_H_
#define PDSERVE_SERVICES_COMMON_HOP_REPORT_H_

#include <cstdint>

#include "absl/time/time.h"

namespace pdserve::common {

struct HopReport {
  uint64_t queue_us = 0;
  uint64_t prefill_compute_us = 0;
  uint64_t kv_write_us = 0;
  uint64_t prefix_read_us = 0;
  uint64_t decode_compute_us = 0;
  uint64_t kv_fetch_us = 0;
  uint64_t append_us = 0;
  uint64_t kv_bytes_written = 0;
  uint64_t kv_bytes_read = 0;
  uint32_t reused_tokens = 0;

  void Add(const HopReport& o) {
    queue_us += o.queue_us;
    prefill_compute_us += o.prefill_compute_us;
    kv_write_us += o.kv_write_us;
    prefix_read_us += o.prefix_read_us;
    decode_compute_us += o.decode_compute_us;
    kv_fetch_us += o.kv_fetch_us;
    append_us += o.append_us;
    kv_bytes_written += o.kv_bytes_written;
    kv_bytes_read += o.kv_bytes_read;
    reused_tokens += o.reused_tokens;
  }
};

inline uint64_t Micros(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Microseconds(d)); }

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_HOP_REPORT_H_
