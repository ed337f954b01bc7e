#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release, -j2) and runs every test.
# Usage: tests/run.sh [extra ctest args]
# Environment: BUILD_DIR (default build), PDSERVE_SANITIZE ('' | address,undefined | thread),
#              CXX (compiler; clang++ for TSan is a good choice).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install_deps.sh

BUILD_DIR="${BUILD_DIR:-build}"
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DPDSERVE_SANITIZE="${PDSERVE_SANITIZE:-}" >"$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j2
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 300 "$@"
