#!/usr/bin/env bash
# The one configure-and-build step every script uses: installs missing Debian packages
# (deploy/install_deps.sh), configures BUILD_DIR with cmake and builds all or the given targets.
# Configure output goes to $BUILD_DIR/configure.log and is printed only when configuring fails.
#
# Usage: deploy/build.sh [-DNAME=VALUE...] [TARGET...]
#   -DNAME=VALUE  extra cmake cache entries for the configure step, e.g. -DPDSERVE_SANITIZE=thread
#   TARGET        build only these targets (default: everything)
# Environment: BUILD_DIR (default <repo>/build; a relative path is relative to the current
#              directory, which the tests/ scripts make the repository root), CMAKE_BUILD_TYPE
#              (default Release), JOBS (build parallelism, default 2).
# Run it as a command (not sourced): it changes neither the caller's directory nor its variables.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

configure_args=(-DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}")
build_args=(--build "$BUILD_DIR" -j"${JOBS:-2}")
targets=()
for arg in "$@"; do
  case "$arg" in
    -D*) configure_args+=("$arg") ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option '$arg' (only -DNAME=VALUE)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[ "${#targets[@]}" -eq 0 ] || build_args+=(--target "${targets[@]}")

"$ROOT/deploy/install_deps.sh"
mkdir -p "$BUILD_DIR"
if ! cmake -S "$ROOT" -B "$BUILD_DIR" "${configure_args[@]}" >"$BUILD_DIR/configure.log" 2>&1; then
  cat "$BUILD_DIR/configure.log" >&2
  echo "build.sh: configuring $BUILD_DIR failed (log above, kept in $BUILD_DIR/configure.log)" >&2
  exit 1
fi
cmake "${build_args[@]}"
