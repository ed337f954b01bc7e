// Client channels and per-call contexts.
#include "services/common/client_channel.h"

namespace pdserve::common {

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("target: empty address");
  auto credentials = ChannelCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Fail fast when a peer restarts instead of waiting for the default back-off.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, *credentials, args);
}

void PrepareContext(grpc::ClientContext* context, absl::Duration timeout, const TokenAuth& auth) {
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  auth.Attach(context);
}

}  // namespace pdserve::common
