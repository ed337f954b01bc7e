#!/usr/bin/env bash
# ThreadSanitizer run of the concurrent tests: the cache manager stress test, the cache service
# test (in-process server plus the TSan-built kv_cache_manager binary) and services/common's
# worker pool test, built with clang++ (-Wthread-safety checks the lock annotations too).
# Usage: tests/tsan.sh [extra ctest args]
# Environment: BUILD_DIR (default build-tsan), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install_deps.sh
if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi

BUILD_DIR="${BUILD_DIR:-build-tsan}"
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DPDSERVE_SANITIZE=thread -DCMAKE_CXX_FLAGS=-Wthread-safety >"$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" \
  --target kv_cache_stress_test kv_cache_service_test kv_cache_manager pdserve_common_test

# Debian's gRPC, protobuf and Abseil are not instrumented: tests/tsan.supp silences reports
# whose racing accesses are both inside them.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 \
  -R '^(StressTest|KvCacheService[A-Za-z]*Test|KvCacheManagerBinaryTest|WorkerPoolTest)\.' "$@"
