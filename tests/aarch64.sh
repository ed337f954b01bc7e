#!/usr/bin/env bash
# Cross-compiles base/ and decoder/ with their unit tests for aarch64 (Debian 12's
# g++-aarch64-linux-gnu and the multiarch :arm64 -dev packages, cmake/aarch64-linux-gnu.cmake)
# and runs the tests under qemu-aarch64. Installs what is missing first; idempotent: no apt work
# when everything is installed.
#
# The SentencePiece plugin is not built: Debian 12's libsentencepiece-dev is not Multi-Arch, so
# its :arm64 package would replace the amd64 one the native build needs. A tokenizer.model then
# fails to load with DATA_LOSS naming the missing plugin (tokenizer_test checks that refusal).
#
# Usage: tests/aarch64.sh [extra ctest args]
# Environment: BUILD_DIR (default build-aarch64), JOBS (build parallelism, default 2),
#              TEST_TIME_LIMIT (seconds for the whole ctest run, default 900; each test has 600).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build-aarch64}"
TEST_TIME_LIMIT="${TEST_TIME_LIMIT:-900}"

PACKAGES=(
  cmake pkg-config g++-aarch64-linux-gnu qemu-user nlohmann-json3-dev
  libabsl-dev:arm64 libxxhash-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64
)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "aarch64: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$BUILD_DIR"
if ! cmake -S . -B "$BUILD_DIR" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DPDSERVE_DECODER_ONLY=ON -DPDSERVE_SENTENCEPIECE_PLUGIN=OFF \
    >"$BUILD_DIR/configure.log" 2>&1; then
  cat "$BUILD_DIR/configure.log" >&2
  echo "aarch64: configuring $BUILD_DIR failed (log above, kept in $BUILD_DIR/configure.log)" >&2
  exit 1
fi
cmake --build "$BUILD_DIR" -j"${JOBS:-2}"

cd "$BUILD_DIR"
status=0
timeout --signal=TERM --kill-after=30 "$TEST_TIME_LIMIT" \
  ctest --output-on-failure --timeout 600 -L 'decoder|base' "$@" || status=$?
if [ "$status" -eq 124 ]; then
  echo "aarch64: the tests did not finish within TEST_TIME_LIMIT=${TEST_TIME_LIMIT}s" >&2
fi
exit "$status"
