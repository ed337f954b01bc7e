// What every server reports about how it runs: the kernel family chosen at start-up.
#ifndef PDSERVE_SERVICES_COMMON_BUILD_INFO_H_
#define PDSERVE_SERVICES_COMMON_BUILD_INFO_H_

#include <string>

#include "absl/status/status.h"
#include "services/common/metrics.h"

namespace pdserve::common {

// OK if this process's kernel family resolved (base/kernel_family.h); else why not (e.g.
// PDSERVE_KERNELS names a family this CPU lacks). A server refuses to start on an error.
absl::Status CheckKernelFamily();

// "kernels: avx512", for the start-up line. REQUIRES: CheckKernelFamily() is OK.
std::string KernelsTag();

// Registers pdserve_build_info{kernels="avx512"} 1.
void RegisterBuildInfo(MetricsRegistry* registry);

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_BUILD_INFO_H_
