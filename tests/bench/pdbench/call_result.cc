// Status code names as ghz (Go's grpc codes package) prints them.
#include "tests/bench/pdbench/call_result.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace pdserve::bench {

std::string StatusCodeName(int code) {
  static constexpr std::array<const char*, 17> kNames = {
      "OK",           "Canceled",          "Unknown",          "InvalidArgument",
      "DeadlineExceeded", "NotFound",      "AlreadyExists",    "PermissionDenied",
      "ResourceExhausted", "FailedPrecondition", "Aborted",    "OutOfRange",
      "Unimplemented", "Internal",         "Unavailable",      "DataLoss",
      "Unauthenticated"};
  if (code >= 0 && code < static_cast<int>(kNames.size())) return kNames[code];
  return absl::StrCat("Code(", code, ")");
}

std::string GhzErrorString(int code, const std::string& message) {
  if (code == 0) return "";
  return absl::StrCat("rpc error: code = ", StatusCodeName(code), " desc = ", message);
}

}  // namespace pdserve::bench
