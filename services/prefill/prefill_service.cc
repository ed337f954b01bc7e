// gRPC adapter of PrefillCore.
#include "services/prefill/prefill_service.h"

#include "services/common/grpc_status.h"
#include "services/common/proto_convert.h"

namespace pdserve::prefill {

namespace pb = ::pdserve::inference::v1;

PrefillService::PrefillService(const PrefillCore* core, common::WorkerPool* workers,
                               const common::TokenAuth* auth, common::MetricsRegistry* metrics)
    : core_(core),
      workers_(workers),
      auth_(auth),
      requests_(metrics->AddCounter("pdserve_prefill_requests_total", "Prefill calls received")),
      failures_(metrics->AddCounter("pdserve_prefill_failures_total", "Prefill calls failed")),
      reused_tokens_(metrics->AddCounter("pdserve_prefill_reused_tokens_total",
                                         "Prompt tokens served from the prefix cache")),
      prompt_tokens_(metrics->AddCounter("pdserve_prefill_prompt_tokens_total",
                                         "Prompt tokens prefilled or reused")),
      kv_bytes_written_(metrics->AddCounter("pdserve_prefill_kv_bytes_written_total",
                                            "K/V bytes streamed to the cache manager")),
      kv_bytes_read_(metrics->AddCounter("pdserve_prefill_kv_bytes_read_total",
                                         "Cached prefix K/V bytes read")),
      latency_(metrics->AddHistogram("pdserve_prefill_latency_seconds",
                                     "Prefill call latency (time to first token at prefill)",
                                     common::LatencyBucketsSeconds())),
      queued_(metrics->AddGauge("pdserve_prefill_queued", "Prefill calls waiting for a worker")) {}

grpc::ServerUnaryReactor* PrefillService::Prefill(grpc::CallbackServerContext* context,
                                                  const pb::PrefillRequest* request,
                                                  pb::PrefillResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  requests_->Add();
  if (absl::Status auth = auth_->Check(*context); !auth.ok()) {
    failures_->Add();
    reactor->Finish(common::ToGrpcStatus(auth));
    return reactor;
  }
  const absl::Time arrived = absl::Now();
  queued_->Add(1);
  workers_->Submit([this, context, request, response, reactor, arrived] {
    queued_->Add(-1);
    const absl::Time started = absl::Now();
    if (context->IsCancelled()) {
      failures_->Add();
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                   "prefill: cancelled or deadline passed while queued"));
      return;
    }
    PrefillInput input;
    input.model = request->model();
    input.has_text = !request->prompt_text().empty();
    input.prompt_text = request->prompt_text();
    input.prompt_token_ids.assign(request->prompt_token_ids().begin(),
                                  request->prompt_token_ids().end());
    input.sampling = common::SamplingFromProto(request->sampling());
    input.resume_generated = request->resume_generated();
    input.lease_ttl = absl::Milliseconds(request->lease_ttl_ms());
    absl::StatusOr<PrefillOutput> out = core_->Run(input);
    if (!out.ok()) {
      failures_->Add();
      reactor->Finish(common::ToGrpcStatus(out.status()));
      return;
    }
    out->report.queue_us = common::Micros(started - arrived);
    response->set_sequence_id(out->sequence_id);
    response->set_first_token_id(out->first_token_id);
    response->set_first_text(out->first_text);
    response->set_prompt_tokens(out->prompt_tokens);
    response->set_reused_tokens(out->reused_tokens);
    common::HopReportToProto(out->report, response->mutable_report());
    reused_tokens_->Add(out->reused_tokens);
    prompt_tokens_->Add(out->prompt_tokens);
    kv_bytes_written_->Add(static_cast<double>(out->report.kv_bytes_written));
    kv_bytes_read_->Add(static_cast<double>(out->report.kv_bytes_read));
    latency_->Observe(absl::ToDoubleSeconds(absl::Now() - arrived));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace pdserve::prefill
