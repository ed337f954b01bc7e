// Whether a request's `model` field names the model this server runs.
#ifndef PDSERVE_SERVICES_COMMON_MODEL_NAME_H_
#define PDSERVE_SERVICES_COMMON_MODEL_NAME_H_

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pdserve::common {

// OK when `requested` is empty, equals `served` (the model's namespace name) or one of
// `aliases` (e.g. the --model flag as given); otherwise NOT_FOUND naming both.
inline absl::Status CheckServedModel(const std::string& requested, const std::string& served,
                                     const std::vector<std::string>& aliases) {
  if (requested.empty() || requested == served ||
      std::find(aliases.begin(), aliases.end(), requested) != aliases.end()) {
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat("model: '", requested, "' is not served here (this server runs '", served, "')"));
}

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_MODEL_NAME_H_
