// gRPC adapter of DecodeScheduler: each Decode call becomes a server-streaming reactor that the
// scheduler feeds token by token.
#ifndef PDSERVE_SERVICES_DECODE_DECODE_SERVICE_H_
#define PDSERVE_SERVICES_DECODE_DECODE_SERVICE_H_

#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "services/common/auth.h"
#include "services/common/metrics.h"
#include "services/decode/decode_scheduler.h"

namespace pdserve::decode {

// Metrics the decode service exports.
struct DecodeMetrics {
  explicit DecodeMetrics(common::MetricsRegistry* registry);
  common::Counter* requests;
  common::Counter* failures;
  common::Counter* tokens;
  common::Counter* kv_bytes_read;
  common::Counter* kv_bytes_written;
  common::Histogram* time_per_output_token;
  common::Histogram* batch_size;
  common::Histogram* step_seconds;
};

// Thread-safe.
class DecodeService final : public pdserve::inference::v1::Decode::CallbackService {
 public:
  // Borrowed pointers; they must outlive the service.
  DecodeService(DecodeScheduler* scheduler, const common::TokenAuth* auth, DecodeMetrics* metrics)
      : scheduler_(scheduler), auth_(auth), metrics_(metrics) {}

  grpc::ServerWriteReactor<pdserve::inference::v1::DecodeResponse>* Decode(
      grpc::CallbackServerContext* context,
      const pdserve::inference::v1::DecodeRequest* request) override;

 private:
  DecodeScheduler* scheduler_;
  const common::TokenAuth* auth_;
  DecodeMetrics* metrics_;
};

}  // namespace pdserve::decode

#endif  // PDSERVE_SERVICES_DECODE_DECODE_SERVICE_H_
