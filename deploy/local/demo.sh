#!/usr/bin/env bash
# The whole thing in one go: install dependencies, build, start the local stack, run one
# generation through the router (tokens, text, TTFT, tokens/s), and stop the stack again
# (always, also on failure or Ctrl-C).
# Usage: demo.sh [--model=DIR_OR_NAME] [--prompt=TEXT] [--max_new_tokens=N]
# Environment: BUILD_DIR (default <repo>/build), JOBS (build parallelism, default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MODEL="synthetic:tiny"
PROMPT="The quick brown fox"
MAX_NEW_TOKENS=32
for arg in "$@"; do
  case "$arg" in
    --model=*) MODEL="${arg#*=}" ;;
    --prompt=*) PROMPT="${arg#*=}" ;;
    --max_new_tokens=*) MAX_NEW_TOKENS="${arg#*=}" ;;
    *) echo "demo.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export BUILD_DIR

"$ROOT/deploy/build.sh" kv_cache_manager prefill_server decode_server router_server pdctl

trap '"$ROOT/deploy/local/down.sh"' EXIT
UP_OUTPUT="$("$ROOT/deploy/local/up.sh" --model="$MODEL")"
echo "$UP_OUTPUT"
ROUTER="$(echo "$UP_OUTPUT" | tail -n 1)"
ROUTER="${ROUTER#ROUTER=}"

echo
echo "== pdctl generate --target=$ROUTER --prompt=\"$PROMPT\" --max_new_tokens=$MAX_NEW_TOKENS"
"$BUILD_DIR/bin/pdctl" generate --target="$ROUTER" --prompt="$PROMPT" \
  --max_new_tokens="$MAX_NEW_TOKENS" --temperature=0
