#!/usr/bin/env bash
# Stops exactly the processes deploy/local/up.sh started, from the pid files in its state dir:
# SIGTERM (graceful), then SIGKILL after a grace period. A pid is only signalled while it still
# runs the binary up.sh started under it, so a recycled pid is never touched.
# Environment: BUILD_DIR (default <repo>/build), STATE_DIR (default $BUILD_DIR/local-stack),
#              DOWN_GRACE_S (default 10).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
STATE_DIR="${STATE_DIR:-$BUILD_DIR/local-stack}"
GRACE_S="${DOWN_GRACE_S:-10}"

if [ ! -d "$STATE_DIR" ]; then
  echo "down.sh: nothing to stop ($STATE_DIR does not exist)"
  exit 0
fi

# ours NAME: true while NAME's pid is alive and still runs the binary recorded for it.
ours() {
  local name="$1" pid binary
  pid="$(cat "$STATE_DIR/$name.pid" 2>/dev/null)" || return 1
  binary="$(cat "$STATE_DIR/$name.binary" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1 | grep -q "/$binary\$"
}

# The front door first, the cache manager last, so no server loses a dependency mid-call.
names=()
for pattern in router 'decode*' 'prefill*' cache; do
  for f in "$STATE_DIR"/$pattern.pid; do
    [ -e "$f" ] && names+=("$(basename "$f" .pid)")
  done
done

for name in "${names[@]}"; do
  if ours "$name"; then
    kill -TERM "$(cat "$STATE_DIR/$name.pid")" 2>/dev/null
  fi
done
deadline=$((SECONDS + GRACE_S))
for name in "${names[@]}"; do
  while ours "$name" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if ours "$name"; then
    echo "down.sh: $name did not exit within ${GRACE_S}s; killing it" >&2
    kill -KILL "$(cat "$STATE_DIR/$name.pid")" 2>/dev/null
  fi
  rm -f "$STATE_DIR/$name.pid"
  echo "stopped $name"
done
