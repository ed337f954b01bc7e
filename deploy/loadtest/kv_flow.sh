#!/usr/bin/env bash
# The cache manager's create -> write -> read -> release flow, one ghz config per step (ghz
# cannot pass one call's sequence_id to the next; see deploy/ghz/README.md). Runs each step with
# pdbench, and with ghz as well when ghz is on PATH. Fails on any status other than OK.
#
# Usage: deploy/loadtest/kv_flow.sh CACHE_HOST:PORT
# Env: N=sequences to create and release (200), PDBENCH=path to pdbench.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CACHE="${1:-${CACHE:-}}"
[ -n "$CACHE" ] || die "usage: $0 CACHE_HOST:PORT"
N="${N:-200}"
require_pdbench
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
G="$ROOT/deploy/ghz"
run() {  # run NAME CONFIG [args both tools take, e.g. --total N]
  local name="$1" config="$2"; shift 2
  echo "== $name" >&2
  "$PDBENCH" rpc --config "$config" --expect_codes OK --output "$WORK/$name.json" "$@" "$CACHE"
  if command -v ghz >/dev/null; then
    ghz --config "$config" "$@" -O json "$CACHE" > "$WORK/$name.ghz.json"
    echo "   ghz rps $(json_get "$WORK/$name.ghz.json" rps), pdbench rps $(json_get "$WORK/$name.json" rps)" >&2
  fi
}

# 1. A fresh 256-token sequence for the write and read steps.
"$PDBENCH" rpc --config "$G/kvcache_seed_sequence.json" --expect_codes OK \
  --responses "$WORK/seed.jsonl" "$CACHE" >/dev/null 2>&1 || die "seeding failed"
SEQ="$(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(r["sequence_id"]); sys.exit(0 if int(r.get("cached_tokens", 0)) == 0 else 3)' "$WORK/seed.jsonl")" \
  || die "the seed sequence found a cached prefix; rerun in a second"
sed "s/SEQUENCE_ID/$SEQ/" "$G/kvcache_write_kv.json" > "$WORK/write_kv.json"
sed "s/SEQUENCE_ID/$SEQ/" "$G/kvcache_read_kv.json" > "$WORK/read_kv.json"

# 2. Write it one token per call (pdbench only: a second writer would find the offsets taken),
#    then read it back.
echo "== write_kv (sequence $SEQ)" >&2
"$PDBENCH" rpc --config "$WORK/write_kv.json" --expect_codes OK --output "$WORK/write_kv.json.out" "$CACHE"
run read_kv "$WORK/read_kv.json" --total 500

# 3. Create N sequences, then release exactly those.
"$PDBENCH" rpc --config "$G/kvcache_create_sequence.json" --total "$N" --expect_codes OK \
  --responses "$WORK/created.jsonl" --output "$WORK/create.json" "$CACHE"
python3 -c 'import json,sys
ids=[json.loads(l)["sequence_id"] for l in open(sys.argv[1])]
json.dump([{"sequence_id": i} for i in ids], open(sys.argv[2], "w"))' "$WORK/created.jsonl" "$WORK/release.json"
echo "== release_sequence" >&2
"$PDBENCH" rpc --config "$G/kvcache_release_sequence.json" --data_file "$WORK/release.json" \
  --total "$N" --expect_codes OK --output "$WORK/release.out.json" "$CACHE"
"$PDBENCH" rpc --config "$G/kvcache_release_sequence.json" --total 1 --concurrency 1 \
  --data "{\"sequence_id\": \"$SEQ\"}" --expect_codes OK --output /dev/null "$CACHE"
echo "kv flow OK" >&2
