#!/usr/bin/env bash
# Sanitizer runs of the concurrent tests, built with clang++ in their own build directory:
#   address   AddressSanitizer + UndefinedBehaviorSanitizer (build-asan): the cache manager's
#             stress and service tests (in-process server plus the sanitized kv_cache_manager
#             binary), services/common's worker pool, the decoder's attention, matmul and model
#             tests (kernels split across its thread pool), and the integration tests that run
#             sanitized prefill, decode and router processes (continuous batching, the router's
#             failover, cancellation and deadlines). A report in a server process makes it
#             exit, which fails the test that started it.
#   thread    ThreadSanitizer plus clang's -Wthread-safety check of the lock annotations
#             (build-tsan), on the code whose locks tell TSan about themselves: the cache
#             manager (cache_manager/mutex_lock.h), the worker pool, and the decoder's thread
#             pool (std::atomic only) under its kernels. Debian's Abseil and gRPC
#             are not instrumented, so TSan cannot see the ordering an absl::Mutex, an
#             absl::Notification or a gRPC reactor gives; the servers' other locks would need
#             the same annotation before their processes can run under TSan without false
#             reports. -Wthread-safety still checks every annotated lock in every target built.
# Usage: tests/sanitize.sh address|thread [extra ctest args]
# Environment: BUILD_DIR (default build-asan / build-tsan), JOBS (default 2).
# Always RelWithDebInfo with clang++ (deploy/build.sh does the configure and build).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-}"
shift || true
case "$MODE" in
  address) SANITIZE=address,undefined; DEFAULT_DIR=build-asan; EXTRA_FLAGS="" ;;
  thread) SANITIZE=thread; DEFAULT_DIR=build-tsan; EXTRA_FLAGS="-Wthread-safety" ;;
  *) echo "usage: tests/sanitize.sh address|thread [ctest args]" >&2; exit 2 ;;
esac

if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi

BUILD_DIR="${BUILD_DIR:-$DEFAULT_DIR}"
export BUILD_DIR
TARGETS=(kv_cache_stress_test kv_cache_service_test kv_cache_manager pdserve_common_test
         decoder_attention_test decoder_linear_test decoder_model_test)
TESTS='StressTest|KvCacheService[A-Za-z]*Test|KvCacheManagerBinaryTest|WorkerPoolTest'
# The decoder's kernels on its thread pool: attention split by key segment across threads and
# merged, and the matmul's thread split (plain std::atomic synchronization, which TSan sees).
TESTS+='|Lengths/AttentionTest|Attention[A-Za-z]*Test|LinearTest|ModelTest'
if [ "$MODE" = address ]; then
  TARGETS+=(prefill_server decode_server router_server disaggregated_test kv_fetch_mode_test
            router_e2e_test router_control_test)
  TESTS+='|DisaggregatedTest|Modes/KvFetchModeTest|RouterE2eTest|RouterControlTest'
else
  # Compiled for the -Wthread-safety check of their locks; not run (see above).
  TARGETS+=(prefill_server decode_server router_server)
fi
CMAKE_BUILD_TYPE=RelWithDebInfo deploy/build.sh -DCMAKE_CXX_COMPILER=clang++ \
  -DPDSERVE_SANITIZE="$SANITIZE" -DCMAKE_CXX_FLAGS="$EXTRA_FLAGS" "${TARGETS[@]}"

# Debian's gRPC, protobuf and Abseil are not instrumented: tests/tsan.supp silences reports
# whose racing accesses are both inside them.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
# One directory for every temporary file of the run (servers' captured stdout, TLS certificates,
# test outputs), so whatever a crashed or killed test leaves behind goes with it. gtest's
# TempDir() and the decoder's tests look at TEST_TMPDIR, everything else at TMPDIR.
RUN_TMPDIR="$(mktemp -d -t pdserve-sanitize.XXXXXX)"
trap 'rm -rf "$RUN_TMPDIR"' EXIT
export TMPDIR="$RUN_TMPDIR" TEST_TMPDIR="$RUN_TMPDIR"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -R "^($TESTS)\." "$@"
