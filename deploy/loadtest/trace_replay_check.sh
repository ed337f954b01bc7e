#!/usr/bin/env bash
# CI check of `pdbench serve`: replays the first 200 requests of the public conversation trace
# against a locally started stack and checks that every request succeeded and the prefix-cache
# hit ratio is above zero and at most the ceiling computed from the trace at the same scale.
#
# Usage: deploy/loadtest/trace_replay_check.sh [TRACE]   (default tests/data/traces/conversation_trace.jsonl)
# Env: LIMIT=200, RATE=20 (requests/s), PDBENCH=path to pdbench.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TRACE="${1:-$DEFAULT_TRACE}"
LIMIT="${LIMIT:-200}"
RATE="${RATE:-20}"
[ -f "$TRACE" ] || die "trace not found: $TRACE"
require_pdbench
start_stack ROUTER
OUT="$(mktemp)"
trap 'rm -f "$OUT"; stop_stack' EXIT
"$PDBENCH" serve --trace "$TRACE" --target "$ROUTER" --limit "$LIMIT" --rate "$RATE" \
  --max_output 16 --json --output "$OUT" >/dev/null
python3 - "$OUT" "$LIMIT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def find(o, key):
    if isinstance(o, dict):
        if key in o: return o[key]
        for v in o.values():
            r = find(v, key)
            if r is not None: return r
    return None
hit, ceiling = find(d, "hit_ratio"), find(d, "ceiling_token_ratio")
ok, failed = find(d, "succeeded"), find(d, "unexpected_errors")
print(f"hit_ratio={hit} ceiling={ceiling} succeeded={ok} failed={failed}")
assert failed == 0, "some requests failed unexpectedly"
assert hit is not None and ceiling is not None, "summary lacks hit_ratio/ceiling"
assert 0 < hit <= ceiling + 1e-9, "hit ratio must be above zero and at most the ceiling"
print("PASS")
PY
