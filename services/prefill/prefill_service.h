// gRPC adapter of PrefillCore: parses pdserve.inference.v1.Prefill requests, runs them on
// worker threads, maps results and statuses back.
#ifndef PDSERVE_SERVICES_PREFILL_PREFILL_SERVICE_H_
#define PDSERVE_SERVICES_PREFILL_PREFILL_SERVICE_H_

#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "services/common/auth.h"
#include "services/common/metrics.h"
#include "services/common/worker_pool.h"
#include "services/prefill/prefill_core.h"

namespace pdserve::prefill {

// Thread-safe. Requests never run on gRPC's threads: each is queued to `workers`.
class PrefillService final : public pdserve::inference::v1::Prefill::CallbackService {
 public:
  // All pointers are borrowed and must outlive the service.
  PrefillService(const PrefillCore* core, common::WorkerPool* workers,
                 const common::TokenAuth* auth, common::MetricsRegistry* metrics);

  grpc::ServerUnaryReactor* Prefill(grpc::CallbackServerContext* context,
                                    const pdserve::inference::v1::PrefillRequest* request,
                                    pdserve::inference::v1::PrefillResponse* response) override;

 private:
  const PrefillCore* core_;
  common::WorkerPool* workers_;
  const common::TokenAuth* auth_;
  common::Counter* requests_;
  common::Counter* failures_;
  common::Counter* reused_tokens_;
  common::Counter* prompt_tokens_;
  common::Counter* kv_bytes_written_;
  common::Counter* kv_bytes_read_;
  common::Histogram* latency_;
  common::Gauge* queued_;
};

}  // namespace pdserve::prefill

#endif  // PDSERVE_SERVICES_PREFILL_PREFILL_SERVICE_H_
