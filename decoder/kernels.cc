// The process's kernel table.
#include "decoder/kernels.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace pdserve::decoder::internal {

namespace portable {
const KernelTable& Table();
}
#if defined(__x86_64__)
namespace avx2 {
const KernelTable& Table();
}
namespace avx512 {
const KernelTable& Table();
}
#endif

const KernelTable* KernelTableFor(KernelFamily family) {
  if (!KernelFamilyAvailable(family)) return nullptr;
  switch (family) {
    case KernelFamily::kPortable: return &portable::Table();
#if defined(__x86_64__)
    case KernelFamily::kAvx2: return &avx2::Table();
    case KernelFamily::kAvx512: return &avx512::Table();
#else
    default: return nullptr;
#endif
  }
  return nullptr;
}

absl::Status InitKernels() { return ProcessKernelFamily().status(); }

const KernelTable& Kernels() {
  static const KernelTable* const table = [] {
    const absl::StatusOr<KernelFamily>& family = ProcessKernelFamily();
    if (!family.ok()) {
      std::fprintf(stderr, "pdserve: %s\n", std::string(family.status().message()).c_str());
      std::abort();
    }
    return KernelTableFor(*family);
  }();
  return *table;
}

}  // namespace pdserve::decoder::internal
