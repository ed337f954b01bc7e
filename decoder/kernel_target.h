// Which kernel family a kernel source file is being compiled for, and the instruction set its
// code may use. The kernel files (*_kernels.cc) are compiled once per family, each time with one
// of PDSERVE_KERNEL_FAMILY_AVX512 / _AVX2 / _PORTABLE defined; everything they define lives in
// namespace pdserve::decoder::internal::PDSERVE_KERNEL_NS, so the copies never collide.
//
// The instruction set is given per function (a target pragma over the family's code), not per
// file: a file compiled with -mavx512f would also compile the out-of-line copies of the standard
// library and Abseil templates it uses with AVX-512, and the linker may keep that copy for the
// whole program, which then dies with SIGILL on an AVX2 host. Functions defined outside the
// pragma (every header included before it) keep the baseline instruction set.
#ifndef PDSERVE_DECODER_KERNEL_TARGET_H_
#define PDSERVE_DECODER_KERNEL_TARGET_H_

#if defined(PDSERVE_KERNEL_FAMILY_AVX512)
#define PDSERVE_KERNEL_NS avx512
#define PDSERVE_KERNEL_ISA "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
#elif defined(PDSERVE_KERNEL_FAMILY_AVX2)
#define PDSERVE_KERNEL_NS avx2
#define PDSERVE_KERNEL_ISA "avx2,fma,f16c"
#elif defined(PDSERVE_KERNEL_FAMILY_PORTABLE)
#define PDSERVE_KERNEL_NS portable
#else
#error "compile kernel files with one PDSERVE_KERNEL_FAMILY_* defined (decoder/CMakeLists.txt)"
#endif

#if defined(PDSERVE_KERNEL_ISA)
#if !defined(__x86_64__)
#error "the AVX2 and AVX-512 kernel families are x86-64 only"
#endif
#define PDSERVE_KERNEL_X86 1
#define PDSERVE_PRAGMA_(x) _Pragma(#x)
#define PDSERVE_PRAGMA(x) PDSERVE_PRAGMA_(x)  // expands x first
#if defined(__clang__)
#define PDSERVE_KERNEL_BEGIN \
  PDSERVE_PRAGMA(clang attribute push(__attribute__((target(PDSERVE_KERNEL_ISA))), apply_to = function))
#define PDSERVE_KERNEL_END _Pragma("clang attribute pop")
#else
#define PDSERVE_KERNEL_BEGIN _Pragma("GCC push_options") PDSERVE_PRAGMA(GCC target(PDSERVE_KERNEL_ISA))
#define PDSERVE_KERNEL_END _Pragma("GCC pop_options")
#endif
#else
#define PDSERVE_KERNEL_BEGIN
#define PDSERVE_KERNEL_END
#endif

#endif  // PDSERVE_DECODER_KERNEL_TARGET_H_
