// Conversions between pdserve.inference.v1 messages and the core-side structs they carry.
#ifndef PDSERVE_SERVICES_COMMON_PROTO_CONVERT_H_
#define PDSERVE_SERVICES_COMMON_PROTO_CONVERT_H_

#include "decoder/sampler.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/common/hop_report.h"

namespace pdserve::common {

// Unset top_p means 1. Values are copied as given; decoder::Validate judges them.
inline decoder::SamplingParams SamplingFromProto(const pdserve::inference::v1::SamplingParams& p) {
  decoder::SamplingParams out;
  out.temperature = p.temperature();
  out.top_k = p.top_k();
  out.top_p = p.has_top_p() ? p.top_p() : 1.0f;
  out.seed = p.seed();
  return out;
}

inline void HopReportToProto(const HopReport& r, pdserve::inference::v1::HopReport* out) {
  out->set_queue_us(r.queue_us);
  out->set_prefill_compute_us(r.prefill_compute_us);
  out->set_kv_write_us(r.kv_write_us);
  out->set_prefix_read_us(r.prefix_read_us);
  out->set_decode_compute_us(r.decode_compute_us);
  out->set_kv_fetch_us(r.kv_fetch_us);
  out->set_append_us(r.append_us);
  out->set_kv_bytes_written(r.kv_bytes_written);
  out->set_kv_bytes_read(r.kv_bytes_read);
  out->set_reused_tokens(r.reused_tokens);
}

inline HopReport HopReportFromProto(const pdserve::inference::v1::HopReport& r) {
  HopReport out;
  out.queue_us = r.queue_us();
  out.prefill_compute_us = r.prefill_compute_us();
  out.kv_write_us = r.kv_write_us();
  out.prefix_read_us = r.prefix_read_us();
  out.decode_compute_us = r.decode_compute_us();
  out.kv_fetch_us = r.kv_fetch_us();
  out.append_us = r.append_us();
  out.kv_bytes_written = r.kv_bytes_written();
  out.kv_bytes_read = r.kv_bytes_read();
  out.reused_tokens = r.reused_tokens();
  return out;
}

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_PROTO_CONVERT_H_
