#!/usr/bin/env bash
# Starts a local pdserve stack in the background on free loopback ports: kv_cache_manager,
# prefill_server(s), decode_server(s) and router_server. Waits until each reports SERVING, then
# prints CACHE=, PREFILL=, DECODE= lines and, last, ROUTER=127.0.0.1:PORT.
# Builds the binaries first if any is missing. Stop the stack with deploy/local/down.sh.
#
# Usage: up.sh [--model=DIR_OR_NAME] [--decode_instances=N] [--prefill_instances=N]
#              [--kv_fetch=delta|full] [--capacity=1GiB]
# Environment: BUILD_DIR (default <repo>/build), STATE_DIR (default $BUILD_DIR/local-stack),
#              JOBS (build parallelism, default 2), UP_TIMEOUT_S (per server, default 120).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

MODEL="synthetic:tiny"
DECODE_INSTANCES=1
PREFILL_INSTANCES=1
KV_FETCH="delta"
CAPACITY="1GiB"
for arg in "$@"; do
  case "$arg" in
    --model=*) MODEL="${arg#*=}" ;;
    --decode_instances=*) DECODE_INSTANCES="${arg#*=}" ;;
    --prefill_instances=*) PREFILL_INSTANCES="${arg#*=}" ;;
    --kv_fetch=*) KV_FETCH="${arg#*=}" ;;
    --capacity=*) CAPACITY="${arg#*=}" ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "up.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
STATE_DIR="${STATE_DIR:-$BUILD_DIR/local-stack}"
TIMEOUT_S="${UP_TIMEOUT_S:-120}"
BINARIES=(kv_cache_manager prefill_server decode_server router_server pdctl)

# Build what is missing (configure + the five targets; no tests). Everything to stderr: stdout
# is the address lines callers parse.
missing=0
for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || missing=1; done
if [ "$missing" -eq 1 ]; then
  echo "up.sh: building ${BINARIES[*]} in $BUILD_DIR" >&2
  BUILD_DIR="$BUILD_DIR" "$ROOT/deploy/build.sh" "${BINARIES[@]}" >&2
fi

# Refuse to start a second stack over a running one: its pid files would be lost.
if [ -d "$STATE_DIR" ]; then
  for f in "$STATE_DIR"/*.pid; do
    [ -e "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then
      echo "up.sh: a stack is already running (see $STATE_DIR); run deploy/local/down.sh" >&2
      exit 1
    fi
  done
fi
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR"

on_error() {
  echo "up.sh: start-up failed; stopping what was started (logs in $STATE_DIR)" >&2
  STATE_DIR="$STATE_DIR" "$ROOT/deploy/local/down.sh" >&2 || true
}
trap on_error ERR

# start NAME BINARY ARGS...: runs BINARY in the background with a port file, records its pid.
start() {
  local name="$1" binary="$2"
  shift 2
  nohup "$BIN/$binary" --address=127.0.0.1:0 --port_file="$STATE_DIR/$name.port" "$@" \
    >"$STATE_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/$name.pid"
  echo "$binary" >"$STATE_DIR/$name.binary"
}

# address NAME: waits for NAME's port file and prints 127.0.0.1:PORT.
address() {
  local name="$1" deadline=$((SECONDS + TIMEOUT_S))
  while [ ! -s "$STATE_DIR/$name.port" ]; do
    if ! kill -0 "$(cat "$STATE_DIR/$name.pid")" 2>/dev/null; then
      echo "up.sh: $name exited during start-up:" >&2
      tail -n 20 "$STATE_DIR/$name.log" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "up.sh: $name did not start within ${TIMEOUT_S}s" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "127.0.0.1:$(cat "$STATE_DIR/$name.port")"
}

# serving NAME ADDRESS SERVICE: waits until grpc.health.v1 says SERVING.
serving() {
  local name="$1" addr="$2" service="$3"
  if ! "$BIN/pdctl" health --target="$addr" --service="$service" \
      --wait_ms=$((TIMEOUT_S * 1000)) >/dev/null; then
    echo "up.sh: $name ($addr) is not SERVING after ${TIMEOUT_S}s:" >&2
    tail -n 20 "$STATE_DIR/$name.log" >&2
    return 1
  fi
}

start cache kv_cache_manager --capacity="$CAPACITY"
CACHE="$(address cache)"
serving cache "$CACHE" pdserve.kvcache.v1.KvCache

PREFILL=""
for i in $(seq 1 "$PREFILL_INSTANCES"); do
  start "prefill$i" prefill_server --model="$MODEL" --cache_manager="$CACHE"
done
for i in $(seq 1 "$PREFILL_INSTANCES"); do
  a="$(address "prefill$i")"
  serving "prefill$i" "$a" pdserve.inference.v1.Prefill
  PREFILL="${PREFILL:+$PREFILL,}$a"
done

DECODE=""
for i in $(seq 1 "$DECODE_INSTANCES"); do
  start "decode$i" decode_server --model="$MODEL" --cache_manager="$CACHE" --kv_fetch="$KV_FETCH"
done
for i in $(seq 1 "$DECODE_INSTANCES"); do
  a="$(address "decode$i")"
  serving "decode$i" "$a" pdserve.inference.v1.Decode
  DECODE="${DECODE:+$DECODE,}$a"
done

start router router_server --model="$MODEL" --prefill="$PREFILL" --decode="$DECODE" \
  --cache_manager="$CACHE"
ROUTER="$(address router)"
serving router "$ROUTER" pdserve.inference.v1.Router

trap - ERR
{
  echo "CACHE=$CACHE"
  echo "PREFILL=$PREFILL"
  echo "DECODE=$DECODE"
  echo "ROUTER=$ROUTER"
} | tee "$STATE_DIR/addresses.env"
