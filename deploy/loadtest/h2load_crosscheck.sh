#!/usr/bin/env bash
# Independent cross-check of pdbench's request rate: measures the cache manager's cheapest RPC
# (GetStats by default, Lookup with RPC=Lookup) with h2load and with `pdbench rpc` in the same
# run, at the same connections and calls in flight, prints both rates and their ratio, and
# fails if they differ by more than 25%. h2load counts only HTTP statuses, so gRPC statuses are
# checked separately with pdbench (every call must be OK).
#
# Usage: deploy/loadtest/h2load_crosscheck.sh            (starts the stack with deploy/local/up.sh)
#        CACHE=127.0.0.1:50051 deploy/loadtest/h2load_crosscheck.sh   (an already running manager)
# Env: RPC=GetStats|Lookup, N=calls per tool (100000), CONNS=4, STREAMS=16 (in flight per conn),
#      PDBENCH=path to pdbench, TOLERANCE=0.25.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RPC="${RPC:-GetStats}"
N="${N:-100000}"
CONNS="${CONNS:-4}"
STREAMS="${STREAMS:-16}"
TOLERANCE="${TOLERANCE:-0.25}"
CONCURRENCY=$((CONNS * STREAMS))

require_pdbench
if ! command -v h2load >/dev/null; then
  echo "installing nghttp2-client (h2load)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null
fi
start_stack CACHE

WORK="$(mktemp -d)"
trap 'stop_stack; rm -rf "$WORK"' EXIT
case "$RPC" in
  GetStats) CONFIG="$ROOT/deploy/ghz/kvcache_get_stats.json" ;;
  Lookup) CONFIG="$ROOT/deploy/ghz/kvcache_lookup.json" ;;
  *) die "RPC must be GetStats or Lookup" ;;
esac

# h2load needs one fixed body: the gRPC frame (flag 0, 4-byte big-endian length, message).
# The Lookup body is the config's request 1 (fixed tokens; h2load cannot template).
python3 - "$RPC" "$WORK/body.bin" <<'PY'
import struct, sys
rpc, path = sys.argv[1], sys.argv[2]
def varint(v):
    out = b""
    while True:
        b = v & 0x7F; v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v: return out
msg = b""
if rpc == "Lookup":
    ns = b"synthetic:tiny"
    toks = [1] + [3 + (i * 37) % 500 for i in range(63)]
    packed = b"".join(varint(t) for t in toks)
    msg = b"\x0a" + varint(len(ns)) + ns + b"\x12" + varint(len(packed)) + packed
open(path, "wb").write(b"\x00" + struct.pack(">I", len(msg)) + msg)
PY

URL="http://$CACHE/pdserve.kvcache.v1.KvCache/$RPC"
H2LOAD=(h2load -n "$N" -c "$CONNS" -m "$STREAMS" -t 1 --data="$WORK/body.bin"
        -H "content-type: application/grpc" -H "te: trailers" "$URL")

# Warm-up (connections, allocator, caches) with both tools; results discarded.
"$PDBENCH" rpc --config "$CONFIG" --total 2000 --concurrency "$CONCURRENCY" \
  --connections "$CONNS" "$CACHE" >/dev/null 2>&1 || true
h2load -n 2000 -c "$CONNS" -m "$STREAMS" -t 1 --data="$WORK/body.bin" \
  -H "content-type: application/grpc" -H "te: trailers" "$URL" >/dev/null 2>&1 || true

echo "== h2load: ${H2LOAD[*]}" >&2
"${H2LOAD[@]}" > "$WORK/h2load.txt"
cat "$WORK/h2load.txt" >&2
H2_RPS="$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$WORK/h2load.txt")"
H2_OK="$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$WORK/h2load.txt")"
[ -n "$H2_RPS" ] || die "could not read h2load's rate"

echo "== pdbench rpc --config $CONFIG --total $N --concurrency $CONCURRENCY --connections $CONNS" >&2
PD_STATUS=0
"$PDBENCH" rpc --config "$CONFIG" --total "$N" --concurrency "$CONCURRENCY" \
  --connections "$CONNS" --expect_codes OK --output "$WORK/pdbench.json" "$CACHE" || PD_STATUS=$?
PD_RPS="$(json_get "$WORK/pdbench.json" rps)"

python3 - "$H2_RPS" "$PD_RPS" "$TOLERANCE" "$H2_OK" "$N" "$PD_STATUS" <<'PY'
import sys
h2, pd, tol = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
h2_ok, n, pd_status = sys.argv[4], sys.argv[5], int(sys.argv[6])
ratio = pd / h2 if h2 > 0 else float("inf")
diff = abs(pd - h2) / max(pd, h2)
print(f"h2load  {h2:12.0f} calls/s  ({h2_ok}/{n} HTTP-successful; gRPC status not visible)")
print(f"pdbench {pd:12.0f} calls/s  (gRPC statuses all OK: {'yes' if pd_status == 0 else 'NO'})")
print(f"ratio pdbench/h2load = {ratio:.3f}; difference {diff:.1%} (limit {tol:.0%})")
ok = diff <= tol and pd_status == 0
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
