// The CPU kernel families pdserve's binaries carry, and the one this process uses: detected
// once from cpuid (or forced by PDSERVE_KERNELS) and the same for every part of the process.
#ifndef PDSERVE_BASE_KERNEL_FAMILY_H_
#define PDSERVE_BASE_KERNEL_FAMILY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pdserve {

// Ordered from the most to the least widely runnable.
enum class KernelFamily {
  kPortable,  // plain C++, any CPU (the only family off x86-64)
  kAvx2,      // x86-64-v3: AVX2, FMA, F16C, BMI2
  kAvx512,    // x86-64-v4: AVX-512 F/BW/VL/DQ on top of kAvx2
};

// "portable", "avx2", "avx512".
absl::string_view KernelFamilyName(KernelFamily family);

// True if this binary was built with the family's kernels and this CPU (and OS) can run them.
bool KernelFamilyAvailable(KernelFamily family);

// The family `requested` names ("avx512", "avx2", "portable"), or for "" and "auto" the best
// available one. INVALID_ARGUMENT for an unknown name, FAILED_PRECONDITION for a family this
// binary or CPU cannot run (naming what the CPU lacks).
absl::StatusOr<KernelFamily> ChooseKernelFamily(absl::string_view requested);

// ChooseKernelFamily of the environment variable PDSERVE_KERNELS
// (unset: the best). Thread-safe; decided on the first call and never changed. A process asked
// for kernels it cannot have refuses to start rather than run others.
const absl::StatusOr<KernelFamily>& ProcessKernelFamily();

// The CPU's features relevant to the families, e.g. "avx2 fma f16c bmi2 avx512f avx512bw".
std::string CpuFeatureSummary();

}  // namespace pdserve

#endif  // PDSERVE_BASE_KERNEL_FAMILY_H_
