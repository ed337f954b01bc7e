// One kernel family's table (compiled once per family, like the kernels).
#include "decoder/kernel_decls.h"

PDSERVE_KERNEL_BEGIN
namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS {

const KernelTable& Table() {
#if defined(PDSERVE_KERNEL_FAMILY_AVX512)
  constexpr KernelFamily kFamily = KernelFamily::kAvx512;
#elif defined(PDSERVE_KERNEL_FAMILY_AVX2)
  constexpr KernelFamily kFamily = KernelFamily::kAvx2;
#else
  constexpr KernelFamily kFamily = KernelFamily::kPortable;
#endif
  static constexpr KernelTable kTable = {kFamily,      &RmsNorm,       &AddInPlace,
                                         &SwiGlu,      &Exp,           &MatMulPanels,
                                         &AttendSegment, &MergeState,  &WriteOutputs};
  return kTable;
}

}  // namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS
PDSERVE_KERNEL_END
