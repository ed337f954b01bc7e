// Generate's server reactor: a write queue in front of gRPC's one-write-at-a-time rule.
#include "services/router/router_service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/grpc_status.h"

namespace pdserve::router {
namespace {

using inference::v1::GenerateRequest;
using inference::v1::GenerateResponse;

absl::Time ClientDeadline(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

// Lives from Generate until OnDone. Messages from the core queue here and go out one write at
// a time; the core's Finish waits for the queue to drain. gRPC calls are made without the lock
// held, so a reaction run inline cannot deadlock.
class GenerateReactor : public grpc::ServerWriteReactor<GenerateResponse>, public GenerateSink {
 public:
  void Begin(RouterCore* core, const GenerateRequest& request, absl::Time deadline) {
    std::shared_ptr<GenerateCall> call = core->Generate(request, deadline, this);
    absl::MutexLock lock(&mu_);
    call_ = std::move(call);
  }

  void Send(GenerateResponse message) override ABSL_LOCKS_EXCLUDED(mu_) {
    const GenerateResponse* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return;
      queue_.push_back(std::move(message));
      if (writing_) return;
      writing_ = true;
      next = &queue_.front();  // deque references survive push_back
    }
    StartWrite(next);
  }

  void Finish(absl::Status status) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      final_status_ = std::move(status);
      finish_pending_ = true;
      if (writing_) return;  // OnWriteDone finishes once the queue drained
    }
    grpc::ServerWriteReactor<GenerateResponse>::Finish(common::ToGrpcStatus(final_status_));
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    const GenerateResponse* next = nullptr;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) {  // the client is gone; OnCancel follows
        broken_ = true;
        queue_.clear();
      }
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish = finish_pending_;
      }
    }
    if (next != nullptr) {
      StartWrite(next);
    } else if (finish) {
      grpc::ServerWriteReactor<GenerateResponse>::Finish(common::ToGrpcStatus(final_status_));
    }
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    std::shared_ptr<GenerateCall> call;
    {
      absl::MutexLock lock(&mu_);
      call = call_;
    }
    if (call != nullptr) call->Cancel();
  }

  void OnDone() override { delete this; }

 private:
  absl::Mutex mu_;
  std::shared_ptr<GenerateCall> call_ ABSL_GUARDED_BY(mu_);
  std::deque<GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_;  // written once under mu_ before any reader
};

// Answers a call that failed before reaching the core.
class RejectReactor : public grpc::ServerWriteReactor<GenerateResponse> {
 public:
  explicit RejectReactor(const absl::Status& status) { Finish(common::ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<GenerateResponse>* RouterService::Generate(
    grpc::CallbackServerContext* context, const GenerateRequest* request) {
  absl::Status auth = auth_->Check(*context);
  if (!auth.ok()) return new RejectReactor(auth);
  auto* reactor = new GenerateReactor();
  reactor->Begin(core_, *request, ClientDeadline(*context));
  return reactor;
}

}  // namespace pdserve::router
