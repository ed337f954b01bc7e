// The probing loop: one Health/Check per member per round, each with its own deadline.
#include "services/router/health_monitor.h"

#include "services/common/client_channel.h"

namespace pdserve::router {

HealthMonitor::HealthMonitor(std::vector<HealthTarget> targets, const common::TokenAuth* auth,
                             HealthMonitorOptions options, std::function<void(bool)> on_round)
    : targets_(std::move(targets)),
      auth_(auth),
      options_(options),
      on_round_(std::move(on_round)),
      thread_([this] { Run(); }) {}

HealthMonitor::~HealthMonitor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

bool HealthMonitor::Probe(grpc::health::v1::Health::Stub* stub,
                          const std::string& service) const {
  grpc::ClientContext context;
  common::PrepareContext(&context, options_.probe_timeout, *auth_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  return status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

void HealthMonitor::Run() {
  std::vector<std::vector<std::unique_ptr<grpc::health::v1::Health::Stub>>> stubs;
  for (const HealthTarget& target : targets_) {
    stubs.emplace_back();
    for (const auto& channel : target.channels) {
      stubs.back().push_back(grpc::health::v1::Health::NewStub(channel));
    }
  }
  while (true) {
    bool ready = true;
    for (size_t t = 0; t < targets_.size(); ++t) {
      bool any = false;
      for (size_t i = 0; i < stubs[t].size(); ++i) {
        const bool healthy = Probe(stubs[t][i].get(), targets_[t].service);
        targets_[t].pool->SetHealthy(i, healthy);
        any = any || healthy;
      }
      ready = ready && any;
    }
    on_round_(ready);
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.interval)) return;
  }
}

}  // namespace pdserve::router
