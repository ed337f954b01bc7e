// A blocking Generate client: fine in a CLI, which has nothing else to do meanwhile.
#include "services/pdctl/remote_generate.h"

#include "absl/strings/str_cat.h"
#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "services/common/auth.h"
#include "services/common/grpc_status.h"

namespace pdserve::pdctl {

absl::StatusOr<GenerateResult> RemoteGenerate(const RemoteOptions& options,
                                              const inference::v1::GenerateRequest& request) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      common::MakeChannel(options.target, options.channel);
  if (!channel.ok()) return channel.status();
  auto stub = inference::v1::Router::NewStub(*channel);
  grpc::ClientContext context;
  common::PrepareContext(&context, options.timeout, common::TokenAuth(options.auth_token));

  GenerateResult result;
  result.mode = "router";
  const absl::Time start = absl::Now();
  double first_ms = 0;
  double last_ms = 0;
  auto reader = stub->Generate(&context, request);
  inference::v1::GenerateResponse message;
  while (reader->Read(&message)) {
    const double now_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (result.token_ids.empty() && message.token_ids_size() > 0) first_ms = now_ms;
    if (message.token_ids_size() > 0) last_ms = now_ms;
    result.token_ids.insert(result.token_ids.end(), message.token_ids().begin(),
                            message.token_ids().end());
    result.text += message.text();
    if (message.finish_reason() != inference::v1::FINISH_REASON_UNSPECIFIED) {
      result.finish_reason =
          message.finish_reason() == inference::v1::FINISH_REASON_STOP ? "stop" : "length";
      result.prompt_tokens = message.usage().prompt_tokens();
      result.reused_tokens = message.usage().reused_tokens();
      result.server_ttft_us = message.ttft_us();
      result.server_mean_tpot_us = message.mean_tpot_us();
      result.decode_retries = message.decode_retries();
      result.report = message.report();
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return common::Annotate(common::FromGrpcStatus(status), absl::StrCat("router ", options.target));
  }
  SetTimings(first_ms, last_ms, &result);
  return result;
}

}  // namespace pdserve::pdctl
