// `pdctl generate --target=HOST:PORT`: one Generate stream through the router.
#ifndef PDSERVE_SERVICES_PDCTL_REMOTE_GENERATE_H_
#define PDSERVE_SERVICES_PDCTL_REMOTE_GENERATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "services/common/client_channel.h"
#include "services/pdctl/generate_result.h"

namespace pdserve::pdctl {

struct RemoteOptions {
  std::string target;                 // the router, HOST:PORT
  common::ChannelOptions channel;
  std::string auth_token;
  absl::Duration timeout = absl::Minutes(10);  // the call's deadline
};

// Runs the request and collects the stream. Errors are the router's status (annotated with
// the target), e.g. INVALID_ARGUMENT for bad input, UNAVAILABLE when nothing listens.
absl::StatusOr<GenerateResult> RemoteGenerate(const RemoteOptions& options,
                                              const inference::v1::GenerateRequest& request);

}  // namespace pdserve::pdctl

#endif  // PDSERVE_SERVICES_PDCTL_REMOTE_GENERATE_H_
