#!/usr/bin/env bash
# Runs every benchmark and keeps their JSON in build/bench-results/ (figures go to BENCHMARKS.md).
# Usage: tests/bench/run.sh [--quick]    (--quick: smaller sizes, a smoke run of minutes)
# Environment: BUILD_DIR (default build), JOBS (build parallelism, default 2).
# Benchmarks are not tests: run them on a machine that is otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/../.."
QUICK="${1:-}"
BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR
deploy/build.sh decoder_bench cache_core_bench cache_service_bench serving_bench \
  kv_cache_manager prefill_server decode_server router_server pdbench
# serving_bench's servers capture their stdout in temp files: one directory for the run, removed
# when the script exits.
RUN_TMPDIR="$(mktemp -d -t pdserve-bench.XXXXXX)"
trap 'rm -rf "$RUN_TMPDIR"' EXIT
export TMPDIR="$RUN_TMPDIR" TEST_TMPDIR="$RUN_TMPDIR"
OUT="$BUILD_DIR/bench-results"
mkdir -p "$OUT"
BIN="$BUILD_DIR/bin"
run() {  # run NAME COMMAND...
  local name="$1"; shift
  echo "== $name" >&2
  "$@" >"$OUT/$name.json"
  echo "   -> $OUT/$name.json" >&2
}
if [ "$QUICK" = "--quick" ]; then
  run decoder "$BIN/decoder_bench" --quick
  run cache_core "$BIN/cache_core_bench" --benchmark_format=json --benchmark_min_time=0.05
  run cache_service "$BIN/cache_service_bench" --iterations=2 --seconds=0.5
  run serving "$BIN/serving_bench" --quick --new_tokens=8
else
  run decoder "$BIN/decoder_bench"
  run cache_core "$BIN/cache_core_bench" --benchmark_format=json
  run cache_service "$BIN/cache_service_bench"
  run serving "$BIN/serving_bench"
fi
echo "done: $(date -u +%F) on $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')" >&2
