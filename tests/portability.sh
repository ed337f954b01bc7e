#!/usr/bin/env bash
# The CPU-portability checks CI runs after tests/run.sh:
#   1. the whole tree compiled (not run) with -march=x86-64-v4 and -Werror, so a warning that only
#      an AVX-512 baseline shows fails on any host (the AVX-512 kernels themselves are compiled in
#      every x86-64 build);
#   2. decoder/ and its tests cross-compiled for aarch64 and run under qemu (tests/aarch64.sh).
# Usage: tests/portability.sh [v4|aarch64]...   (default: both)
# Environment: JOBS (default 2); V4_BUILD_DIR (default build-v4); the aarch64 script's own.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=("$@")
[ "${#STEPS[@]}" -gt 0 ] || STEPS=(v4 aarch64)
for step in "${STEPS[@]}"; do
  case "$step" in
    v4)
      echo "portability: compiling the whole tree for x86-64-v4 (-Werror)" >&2
      start=$SECONDS
      BUILD_DIR="${V4_BUILD_DIR:-build-v4}" deploy/build.sh -DPDSERVE_ARCH=x86-64-v4 -DPDSERVE_WERROR=ON
      echo "portability: x86-64-v4 build passed in $((SECONDS - start)) s" >&2
      ;;
    aarch64)
      start=$SECONDS
      tests/aarch64.sh
      echo "portability: aarch64 decoder tests passed in $((SECONDS - start)) s" >&2
      ;;
    *) echo "portability.sh: unknown step '$step' (v4, aarch64)" >&2; exit 2 ;;
  esac
done
