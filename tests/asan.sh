#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the concurrent tests: the cache manager
# stress test, the cache service test (in-process server plus the ASan-built kv_cache_manager
# binary) and services/common's worker pool test, built with clang++.
# Usage: tests/asan.sh [extra ctest args]
# Environment: BUILD_DIR (default build-asan), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install_deps.sh
if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi

BUILD_DIR="${BUILD_DIR:-build-asan}"
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DPDSERVE_SANITIZE=address,undefined >"$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" \
  --target kv_cache_stress_test kv_cache_service_test kv_cache_manager pdserve_common_test

export ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 \
  -R '^(StressTest|KvCacheService[A-Za-z]*Test|KvCacheManagerBinaryTest|WorkerPoolTest)\.' "$@"
