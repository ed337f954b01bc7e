// Callback-API clients for prefill, decode and the cache manager.
#include "services/router/grpc_backends.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/common/grpc_status.h"

namespace pdserve::router {
namespace {

using inference::v1::DecodeRequest;
using inference::v1::DecodeResponse;
using inference::v1::PrefillRequest;
using inference::v1::PrefillResponse;

void Prepare(grpc::ClientContext* context, absl::Time deadline, const common::TokenAuth* auth) {
  context->set_deadline(absl::ToChronoTime(deadline));
  auth->Attach(context);
}

// A unary call's context and messages; alive until the completion callback has run.
template <typename Request, typename Response>
struct UnaryCall : CallHandle {
  void Cancel() override { context.TryCancel(); }
  grpc::ClientContext context;
  Request request;
  Response response;
};

// One Decode stream. Keeps itself alive (self_) until OnDone, and drops the callbacks there so
// whatever they captured is released.
class DecodeReactor : public grpc::ClientReadReactor<DecodeResponse>, public CallHandle {
 public:
  explicit DecodeReactor(DecodeCallbacks callbacks) : callbacks_(std::move(callbacks)) {}

  void Begin(inference::v1::Decode::Stub* stub, const DecodeRequest& request, absl::Time deadline,
             const common::TokenAuth* auth, std::shared_ptr<DecodeReactor> self) {
    self_ = std::move(self);
    request_ = request;
    Prepare(&context_, deadline, auth);
    stub->async()->Decode(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    callbacks_.on_message(response_);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    DecodeCallbacks callbacks = std::move(callbacks_);
    std::shared_ptr<DecodeReactor> self = std::move(self_);
    callbacks.on_done(common::FromGrpcStatus(status));
    // `self` (maybe the last reference) goes after the callbacks.
  }

 private:
  grpc::ClientContext context_;
  DecodeRequest request_;
  DecodeResponse response_;
  DecodeCallbacks callbacks_;
  std::shared_ptr<DecodeReactor> self_;
};

}  // namespace

GrpcPrefillBackend::GrpcPrefillBackend(std::shared_ptr<grpc::Channel> channel,
                                       const common::TokenAuth* auth)
    : stub_(inference::v1::Prefill::NewStub(std::move(channel))), auth_(auth) {}

std::shared_ptr<CallHandle> GrpcPrefillBackend::Prefill(const PrefillRequest& request,
                                                        absl::Time deadline, PrefillDone done) {
  auto call = std::make_shared<UnaryCall<PrefillRequest, PrefillResponse>>();
  call->request = request;
  Prepare(&call->context, deadline, auth_);
  stub_->async()->Prefill(&call->context, &call->request, &call->response,
                          [call, done = std::move(done)](grpc::Status status) {
                            if (status.ok()) {
                              done(std::move(call->response));
                            } else {
                              done(common::FromGrpcStatus(status));
                            }
                          });
  return call;
}

GrpcDecodeBackend::GrpcDecodeBackend(std::shared_ptr<grpc::Channel> channel,
                                     const common::TokenAuth* auth)
    : stub_(inference::v1::Decode::NewStub(std::move(channel))), auth_(auth) {}

std::shared_ptr<CallHandle> GrpcDecodeBackend::Decode(const DecodeRequest& request,
                                                      absl::Time deadline,
                                                      DecodeCallbacks callbacks) {
  auto reactor = std::make_shared<DecodeReactor>(std::move(callbacks));
  reactor->Begin(stub_.get(), request, deadline, auth_, reactor);
  return reactor;
}

GrpcCacheBackend::GrpcCacheBackend(std::shared_ptr<grpc::Channel> channel,
                                   const common::TokenAuth* auth)
    : stub_(kvcache::v1::KvCache::NewStub(std::move(channel))), auth_(auth) {}

void GrpcCacheBackend::ReleaseSequence(const std::string& sequence_id, absl::Time deadline,
                                       std::function<void(absl::Status)> done) {
  auto call = std::make_shared<
      UnaryCall<kvcache::v1::ReleaseSequenceRequest, kvcache::v1::ReleaseSequenceResponse>>();
  call->request.set_sequence_id(sequence_id);
  Prepare(&call->context, deadline, auth_);
  stub_->async()->ReleaseSequence(&call->context, &call->request, &call->response,
                                  [call, done = std::move(done)](grpc::Status status) {
                                    done(common::FromGrpcStatus(status));
                                  });
}

void GrpcCacheBackend::GetSequence(
    const std::string& sequence_id, absl::Time deadline,
    std::function<void(absl::StatusOr<kvcache::v1::GetSequenceResponse>)> done) {
  auto call = std::make_shared<
      UnaryCall<kvcache::v1::GetSequenceRequest, kvcache::v1::GetSequenceResponse>>();
  call->request.set_sequence_id(sequence_id);
  Prepare(&call->context, deadline, auth_);
  stub_->async()->GetSequence(&call->context, &call->request, &call->response,
                              [call, done = std::move(done)](grpc::Status status) {
                                if (status.ok()) {
                                  done(std::move(call->response));
                                } else {
                                  done(common::FromGrpcStatus(status));
                                }
                              });
}

}  // namespace pdserve::router
