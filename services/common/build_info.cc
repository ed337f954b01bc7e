// Build and CPU facts for logs and metrics.
#include "services/common/build_info.h"

#include "absl/strings/str_cat.h"
#include "base/kernel_family.h"

namespace pdserve::common {

absl::Status CheckKernelFamily() { return ProcessKernelFamily().status(); }

std::string KernelsTag() {
  const absl::StatusOr<KernelFamily>& family = ProcessKernelFamily();
  return absl::StrCat("kernels: ", family.ok() ? KernelFamilyName(*family) : "none");
}

void RegisterBuildInfo(MetricsRegistry* registry) {
  const absl::StatusOr<KernelFamily>& family = ProcessKernelFamily();
  registry->AddInfo("pdserve_build_info",
                    "The CPU kernel family this process chose at start-up (label kernels).",
                    absl::StrCat("kernels=\"", family.ok() ? KernelFamilyName(*family) : "none",
                                 "\""));
}

}  // namespace pdserve::common
