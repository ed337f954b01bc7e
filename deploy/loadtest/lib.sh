# Shared helpers for the load-test scripts: locate pdbench and the trace, start/stop the local
# stack through deploy/local/up.sh and down.sh, and read the addresses up.sh prints
# (NAME=HOST:PORT lines, ROUTER last). Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PDBENCH="${PDBENCH:-${BUILD_DIR:-$ROOT/build}/bin/pdbench}"
# The public request trace, kept in the repository (see tests/data/traces/README.md).
DEFAULT_TRACE="$ROOT/tests/data/traces/conversation_trace.jsonl"
STACK_STARTED=0

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

require_pdbench() {
  [ -x "$PDBENCH" ] || die "pdbench not found at $PDBENCH (deploy/build.sh pdbench, or set PDBENCH=)"
}

# Starts the stack unless the addresses the caller needs are already in the environment.
# Sets ROUTER, CACHE, PREFILL, DECODE (whichever up.sh prints). Extra args go to up.sh.
start_stack() {
  local need="$1"; shift
  if [ -n "${!need:-}" ]; then
    echo "using $need=${!need} from the environment (no stack started)" >&2
    return
  fi
  [ -x "$ROOT/deploy/local/up.sh" ] || die "deploy/local/up.sh is missing"
  local out
  out="$("$ROOT/deploy/local/up.sh" "$@")" || die "deploy/local/up.sh failed"
  STACK_STARTED=1
  trap stop_stack EXIT
  local line
  while IFS= read -r line; do
    case "$line" in
      ROUTER=*|CACHE=*|PREFILL=*|DECODE=*) export "${line?}" ;;
    esac
  done <<< "$out"
  [ -n "${!need:-}" ] || die "up.sh printed no $need= line"
  echo "stack up: ROUTER=${ROUTER:-} CACHE=${CACHE:-} PREFILL=${PREFILL:-} DECODE=${DECODE:-}" >&2
}

stop_stack() {
  if [ "$STACK_STARTED" = 1 ]; then
    "$ROOT/deploy/local/down.sh" >/dev/null 2>&1 || echo "down.sh failed" >&2
    STACK_STARTED=0
  fi
}

# PID listening on 127.0.0.1:PORT (from "HOST:PORT"), empty if none.
pid_of_addr() {
  local port="${1##*:}"
  ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}

# Resident set size of PID in kB, empty if the process is gone.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# Value at a jq-like path of a JSON file, through python3 (jq may be absent).
json_get() {
  python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[int(k)] if isinstance(v,list) else v.get(k, 0)
print(v)' "$1" "$2"
}
