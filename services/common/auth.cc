// Optional bearer-token authentication.
#include "services/common/auth.h"

#include "absl/strings/str_cat.h"

namespace pdserve::common {

absl::Status TokenAuth::Check(const grpc::ServerContextBase& context) const {
  if (token_.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("authorization: metadata missing (want 'Bearer <token>')");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (value != absl::StrCat("Bearer ", token_)) {
    return absl::PermissionDeniedError("authorization: token not accepted");
  }
  return absl::OkStatus();
}

void TokenAuth::Attach(grpc::ClientContext* context) const {
  if (!token_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
}

}  // namespace pdserve::common
