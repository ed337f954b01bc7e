// gRPC adapter of DecodeScheduler.
#include "services/decode/decode_service.h"

#include <atomic>
#include <deque>

#include "absl/synchronization/mutex.h"
#include "services/common/grpc_status.h"
#include "services/common/proto_convert.h"

namespace pdserve::decode {
namespace {

namespace pb = ::pdserve::inference::v1;

// One Decode stream. Tokens arrive from the scheduler's threads and are written one at a time;
// the reactor deletes itself in OnDone, which gRPC calls only after Finish, and Finish is only
// called after the scheduler's last call (OnFinish) — so the scheduler never sees a dead sink.
class DecodeReactor final : public grpc::ServerWriteReactor<pb::DecodeResponse>,
                            public DecodeSink {
 public:
  DecodeReactor(DecodeScheduler* scheduler, DecodeMetrics* metrics)
      : scheduler_(scheduler), metrics_(metrics) {}

  void FinishNow(const grpc::Status& status) { Finish(status); }

  void OnToken(EmittedToken token) override { Enqueue(ToMessage(std::move(token))); }

  void OnFinish(const absl::Status& status, StopReason reason, const common::HopReport& report,
                std::optional<EmittedToken> last) override {
    metrics_->kv_bytes_read->Add(static_cast<double>(report.kv_bytes_read));
    metrics_->kv_bytes_written->Add(static_cast<double>(report.kv_bytes_written));
    if (!status.ok()) metrics_->failures->Add();
    bool finish_now;
    grpc::Status to_send;
    {
      absl::MutexLock lock(&mu_);
      final_status_ = common::ToGrpcStatus(status);
      to_send = final_status_;
      finishing_ = true;
      if (status.ok() && last.has_value()) {
        pb::DecodeResponse message = ToMessage(*std::move(last));
        message.set_finish_reason(reason == StopReason::kStop ? pb::FINISH_REASON_STOP
                                                          : pb::FINISH_REASON_LENGTH);
        common::HopReportToProto(report, message.mutable_report());
        queue_.push_back(std::move(message));
        if (!writing_) StartNextLocked();
      }
      finish_now = !writing_;
    }
    if (finish_now) Finish(to_send);
  }

  bool Cancelled() override { return cancelled_.load(); }

  void OnWriteDone(bool ok) override {
    bool finish_now = false;
    grpc::Status to_send;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      writing_ = false;
      if (!ok) {
        cancelled_ = true;  // the client is gone; the scheduler stops at the next step
        queue_.clear();
      }
      if (!queue_.empty() && finishing_ && !final_status_.ok()) queue_.clear();
      if (!queue_.empty()) {
        StartNextLocked();
      } else if (finishing_) {
        finish_now = true;
        to_send = final_status_;
      }
    }
    if (finish_now) Finish(to_send);
  }

  void OnCancel() override {
    cancelled_ = true;
    scheduler_->NotifyCancelled();  // an admission in flight stops reading
  }
  void OnDone() override { delete this; }

 private:
  pb::DecodeResponse ToMessage(EmittedToken token) {
    pb::DecodeResponse message;
    message.set_token_id(token.token_id);
    message.set_step_index(token.step_index);
    message.set_text(std::move(token.text));
    metrics_->tokens->Add();
    absl::Time now = absl::Now();
    if (last_token_ != absl::InfinitePast()) {
      metrics_->time_per_output_token->Observe(absl::ToDoubleSeconds(now - last_token_));
    }
    last_token_ = now;
    return message;
  }

  void Enqueue(pb::DecodeResponse message) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(message));
    if (!writing_) StartNextLocked();
  }

  void StartNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    StartWrite(&queue_.front());
  }

  DecodeScheduler* const scheduler_;
  DecodeMetrics* const metrics_;
  std::atomic<bool> cancelled_{false};
  absl::Time last_token_ = absl::InfinitePast();  // sink calls only (never concurrent)
  absl::Mutex mu_;
  std::deque<pb::DecodeResponse> queue_ ABSL_GUARDED_BY(mu_);  // front() may be in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;   // queue_.front() is being written
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

DecodeMetrics::DecodeMetrics(common::MetricsRegistry* registry)
    : requests(registry->AddCounter("pdserve_decode_requests_total", "Decode calls received")),
      failures(registry->AddCounter("pdserve_decode_failures_total", "Decode calls failed")),
      tokens(registry->AddCounter("pdserve_decode_tokens_total", "Tokens generated")),
      kv_bytes_read(registry->AddCounter("pdserve_decode_kv_bytes_read_total",
                                         "K/V bytes fetched from the cache manager")),
      kv_bytes_written(registry->AddCounter("pdserve_decode_kv_bytes_written_total",
                                            "K/V bytes appended to the cache manager")),
      time_per_output_token(registry->AddHistogram("pdserve_decode_time_per_output_token_seconds",
                                                   "Time between consecutive tokens of a stream",
                                                   common::LatencyBucketsSeconds())),
      batch_size(registry->AddHistogram("pdserve_decode_batch_size", "Sequences per decode step",
                                        common::SizeBuckets())),
      step_seconds(registry->AddHistogram("pdserve_decode_step_seconds",
                                          "Decode step time (fetch, compute, append)",
                                          common::LatencyBucketsSeconds())) {}

grpc::ServerWriteReactor<pb::DecodeResponse>* DecodeService::Decode(
    grpc::CallbackServerContext* context, const pb::DecodeRequest* request) {
  auto* reactor = new DecodeReactor(scheduler_, metrics_);
  metrics_->requests->Add();
  if (absl::Status auth = auth_->Check(*context); !auth.ok()) {
    metrics_->failures->Add();
    reactor->FinishNow(common::ToGrpcStatus(auth));
    return reactor;
  }
  DecodeInput input;
  input.model = request->model();
  input.sequence_id = request->sequence_id();
  input.last_token_id = request->last_token_id();
  input.position = request->position();
  input.step_index = request->step_index();
  input.sampling = common::SamplingFromProto(request->sampling());
  input.max_new_tokens = request->limits().max_new_tokens();
  input.stop_token_ids.assign(request->limits().stop_token_ids().begin(),
                              request->limits().stop_token_ids().end());
  input.ignore_eos = request->limits().ignore_eos();
  input.keep_sequence = request->keep_sequence();
  if (absl::Status s = scheduler_->Submit(input, reactor); !s.ok()) {
    metrics_->failures->Add();
    reactor->FinishNow(common::ToGrpcStatus(s));
  }
  return reactor;
}

}  // namespace pdserve::decode
