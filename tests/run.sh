#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release, -j2) and runs every test.
# Usage: tests/run.sh [extra ctest args]
# Environment: BUILD_DIR (default build), JOBS (build parallelism, default 2), CMAKE_BUILD_TYPE
#              (default Release), PDSERVE_SANITIZE ('' | address,undefined | thread),
#              CXX (compiler; clang++ for TSan is a good choice).
# Temporary files go to one directory under the system temp dir, removed when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR
deploy/build.sh -DPDSERVE_SANITIZE="${PDSERVE_SANITIZE:-}"

# One directory for every temporary file of the run (servers' captured stdout, TLS certificates,
# test outputs), so whatever a crashed or killed test leaves behind goes with it. gtest's
# TempDir() and the decoder's tests look at TEST_TMPDIR, everything else at TMPDIR.
RUN_TMPDIR="$(mktemp -d -t pdserve-tests.XXXXXX)"
trap 'rm -rf "$RUN_TMPDIR"' EXIT
export TMPDIR="$RUN_TMPDIR" TEST_TMPDIR="$RUN_TMPDIR"

cd "$BUILD_DIR"
ctest --output-on-failure --timeout 300 "$@"
