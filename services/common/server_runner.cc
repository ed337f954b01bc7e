// Starts a gRPC server with health checking, reflection and graceful shutdown.
#include "services/common/server_runner.h"

#include <cstdio>
#include <fstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/common/build_info.h"
#include "services/common/shutdown_signal.h"

namespace pdserve::common {
namespace {

std::string HostOf(absl::string_view address) {
  size_t colon = address.rfind(':');
  return std::string(colon == absl::string_view::npos ? address : address.substr(0, colon));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerRunner>> ServerRunner::Start(
    const ServerOptions& options, const std::vector<ServiceEntry>& services, bool serving) {
  if (absl::Status kernels = CheckKernelFamily(); !kernels.ok()) return kernels;
  auto credentials = ServerCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<ServerRunner> runner(new ServerRunner());
  runner->options_ = options;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, *credentials, &runner->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  for (const ServiceEntry& entry : services) {
    builder.RegisterService(entry.service);
    runner->service_names_.push_back(entry.full_name);
  }
  runner->server_ = builder.BuildAndStart();
  if (runner->server_ == nullptr || runner->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("address: could not listen on '", options.address, "'"));
  }
  runner->address_ = absl::StrCat(HostOf(options.address), ":", runner->port_);
  runner->SetServing(serving);

  if (!options.port_file.empty()) {
    std::ofstream out(options.port_file + ".tmp");
    out << runner->port_ << "\n";
    out.close();
    std::rename((options.port_file + ".tmp").c_str(), options.port_file.c_str());
  }
  std::printf("%s (%s) listening on %s\n", options.binary_name.c_str(), KernelsTag().c_str(),
              runner->address_.c_str());
  std::fflush(stdout);
  return runner;
}

ServerRunner::~ServerRunner() { Shutdown(); }

void ServerRunner::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  for (const std::string& name : service_names_) health->SetServingStatus(name, serving);
}

void ServerRunner::Shutdown() {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoNanoseconds(options_.shutdown_grace));
  server_->Wait();
}

void ServerRunner::RunUntilSignal() {
  int sig = WaitForShutdownSignal();
  std::printf("%s: signal %d, shutting down\n", options_.binary_name.c_str(), sig);
  std::fflush(stdout);
  Shutdown();
}

}  // namespace pdserve::common
