#!/usr/bin/env bash
# Checks that AVX-512 instructions appear only inside the avx512 kernel family of the decoder
# library: an AVX-512 copy of any other function (an inline library template, say) could be the
# one the linker keeps for the whole program, which then dies with SIGILL on an AVX2 CPU.
# Usage: decoder/kernel_isa_check.sh LIBRARY.a   (a ctest on x86-64 builds below x86-64-v4)
set -euo pipefail
LIB="$1"
command -v objdump >/dev/null || { echo "kernel_isa_check: objdump not found" >&2; exit 1; }
# zmm and opmask registers, ymm16-31/xmm16-31, and EVEX-only moves and logic.
bad=$(objdump -d --no-show-raw-insn "$LIB" | awk '
  /^[0-9a-f]+ <.*>:$/ { name = $2; next }
  /%zmm|%k[1-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])|vmovdq[au](32|64)|vpternlog|vpermt2|\{evex\}/ {
    if (name !~ /6avx512/) print name
  }' | sort -u)
total=$(objdump -d --no-show-raw-insn "$LIB" | awk '/^[0-9a-f]+ <.*>:$/ { name = $2; next }
  /%zmm/ { if (name ~ /6avx512/) n++ } END { print n + 0 }')
if [ -n "$bad" ]; then
  echo "kernel_isa_check: AVX-512 instructions outside the avx512 kernels:" >&2
  echo "$bad" | c++filt >&2
  exit 1
fi
if [ "$total" -eq 0 ]; then
  echo "kernel_isa_check: no zmm instruction in the avx512 kernels (were they compiled?)" >&2
  exit 1
fi
echo "kernel_isa_check: $total zmm instructions, all inside the avx512 kernel family"
