#!/usr/bin/env bash
# CI check of deploy/ghz/: every config through `pdbench rpc` for a short bounded run (a few
# hundred calls) against a locally started stack; fails on any unexpected status code.
# Stateful cache-manager configs (seed, write, read, release) run through kv_flow.sh.
#
# Usage: deploy/loadtest/ghz_configs_check.sh [up.sh args...]
#        ROUTER=... CACHE=... PREFILL=... deploy/loadtest/ghz_configs_check.sh  (running stack)
# Env: CALLS=300, PDBENCH=path to pdbench.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CALLS="${CALLS:-300}"
require_pdbench
start_stack ROUTER "$@"
G="$ROOT/deploy/ghz"
FAIL=0
check() {  # check CONFIG ADDR CALLS
  echo "== $(basename "$1") @ $2" >&2
  "$PDBENCH" rpc --config "$1" --total "$3" --expect_codes OK --output /dev/null "$2" \
    2> >(grep -E "Requests/sec|\[" >&2) || { echo "FAIL: $(basename "$1")" >&2; FAIL=1; }
}
check "$G/kvcache_get_stats.json" "$CACHE" "$CALLS"
check "$G/kvcache_lookup.json" "$CACHE" "$CALLS"
check "$G/kvcache_create_sequence.json" "$CACHE" "$CALLS"
check "$G/prefill_prefill.json" "$PREFILL" 50
check "$G/router_generate.json" "$ROUTER" 50
"$(dirname "$0")/kv_flow.sh" "$CACHE" || { echo "FAIL: kv_flow" >&2; FAIL=1; }
[ "$FAIL" = 0 ] && echo PASS || echo FAIL
exit "$FAIL"
