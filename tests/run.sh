#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release, -j2) and runs every test.
# Usage: tests/run.sh [extra ctest args]
# Environment: BUILD_DIR (default build), JOBS (build parallelism, default 2), CMAKE_BUILD_TYPE
#              (default Release), PDSERVE_SANITIZE ('' | address,undefined | thread),
#              CXX (compiler; clang++ for TSan is a good choice).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR
deploy/build.sh -DPDSERVE_SANITIZE="${PDSERVE_SANITIZE:-}"

cd "$BUILD_DIR"
ctest --output-on-failure --timeout 300 "$@"
