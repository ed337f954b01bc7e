// Retry classification and back-off.
#include "services/router/retry_policy.h"

#include <algorithm>
#include <cstdint>

namespace pdserve::router {

bool IsPermanent(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

bool IsPermanentBeforeFirstToken(absl::StatusCode code) {
  return IsPermanent(code) || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kFailedPrecondition;
}

absl::Duration RetryBackoff(const RouterOptions& options, int retry) {
  if (retry <= 1) return absl::ZeroDuration();
  const absl::Duration delay = options.initial_backoff * (int64_t{1} << std::min(retry - 2, 20));
  return std::min(delay, options.max_backoff);
}

}  // namespace pdserve::router
