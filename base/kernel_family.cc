// cpuid-based choice of the kernel family.
#include "base/kernel_family.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace pdserve {
namespace {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, bmi2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
};

#if defined(__x86_64__)
// The OS must save the vector state too (XCR0), or the instructions fault.
uint64_t Xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
}

CpuFeatures Detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  const bool avx = (c >> 28) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = Xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;
  if (!ymm_state) return CpuFeatures{};
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = (b >> 5) & 1;
  f.bmi2 = (b >> 8) & 1;
  if (zmm_state) {
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
  }
  return f;
}
#else
CpuFeatures Detect() { return {}; }
#endif

const CpuFeatures& Features() {
  static const CpuFeatures features = Detect();
  return features;
}

// What the CPU lacks for `family` (empty if nothing).
std::vector<std::string> Missing(KernelFamily family) {
  const CpuFeatures& f = Features();
  std::vector<std::string> missing;
  if (family == KernelFamily::kPortable) return missing;
  for (const auto& [has, name] : {std::pair{f.avx2, "avx2"}, std::pair{f.fma, "fma"},
                                  std::pair{f.f16c, "f16c"}, std::pair{f.bmi2, "bmi2"}}) {
    if (!has) missing.push_back(name);
  }
  if (family == KernelFamily::kAvx512) {
    for (const auto& [has, name] :
         {std::pair{f.avx512f, "avx512f"}, std::pair{f.avx512bw, "avx512bw"},
          std::pair{f.avx512vl, "avx512vl"}, std::pair{f.avx512dq, "avx512dq"}}) {
      if (!has) missing.push_back(name);
    }
  }
  return missing;
}

bool Compiled(KernelFamily family) {
#if defined(__x86_64__)
  (void)family;
  return true;
#else
  return family == KernelFamily::kPortable;
#endif
}

}  // namespace

absl::StatusOr<KernelFamily> ChooseKernelFamily(absl::string_view requested) {
  const std::string name(requested.substr(0, 64));
  if (name.empty() || name == "auto") {
    for (KernelFamily f : {KernelFamily::kAvx512, KernelFamily::kAvx2}) {
      if (KernelFamilyAvailable(f)) return f;
    }
    return KernelFamily::kPortable;
  }
  for (KernelFamily f : {KernelFamily::kPortable, KernelFamily::kAvx2, KernelFamily::kAvx512}) {
    if (name != KernelFamilyName(f)) continue;
    if (!Compiled(f)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "PDSERVE_KERNELS=", name, ": this binary has no ", name, " kernels (not x86-64)"));
    }
    if (std::vector<std::string> missing = Missing(f); !missing.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("PDSERVE_KERNELS=", name, ": this CPU lacks ",
                       absl::StrJoin(missing, ", "), " (it has: ", CpuFeatureSummary(), ")"));
    }
    return f;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "PDSERVE_KERNELS='", name, "' is not a kernel family; expected auto, avx512, avx2 or portable"));
}

absl::string_view KernelFamilyName(KernelFamily family) {
  switch (family) {
    case KernelFamily::kPortable: return "portable";
    case KernelFamily::kAvx2: return "avx2";
    case KernelFamily::kAvx512: return "avx512";
  }
  return "unknown";
}

bool KernelFamilyAvailable(KernelFamily family) {
  return Compiled(family) && Missing(family).empty();
}

const absl::StatusOr<KernelFamily>& ProcessKernelFamily() {
  static const absl::StatusOr<KernelFamily> family = [] {
    const char* env = std::getenv("PDSERVE_KERNELS");
    return ChooseKernelFamily(env == nullptr ? "" : env);
  }();
  return family;
}

std::string CpuFeatureSummary() {
  const CpuFeatures& f = Features();
  std::vector<std::string> names;
  for (const auto& [has, name] :
       {std::pair{f.avx2, "avx2"}, std::pair{f.fma, "fma"}, std::pair{f.f16c, "f16c"},
        std::pair{f.bmi2, "bmi2"}, std::pair{f.avx512f, "avx512f"},
        std::pair{f.avx512bw, "avx512bw"}, std::pair{f.avx512vl, "avx512vl"},
        std::pair{f.avx512dq, "avx512dq"}}) {
    if (has) names.push_back(name);
  }
  return names.empty() ? std::string("none of avx2/avx512") : absl::StrJoin(names, " ");
}

}  // namespace pdserve
