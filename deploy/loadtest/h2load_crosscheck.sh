#!/usr/bin/env bash
# Independent cross-check of pdbench's request rate: measures the cache manager's cheapest RPC
# (GetStats by default, Lookup with RPC=Lookup) with h2load and with `pdbench rpc` in the same
# run, at the same connections and calls in flight, prints both rates and their ratio, and
# fails if at one call in flight they differ by more than 25% (the median of alternating rounds,
# relative to the faster tool). h2load counts only HTTP statuses, so gRPC statuses are checked
# separately with pdbench (every call must be OK).
#
# Usage: deploy/loadtest/h2load_crosscheck.sh            (starts the stack with deploy/local/up.sh)
#        CACHE=127.0.0.1:50051 deploy/loadtest/h2load_crosscheck.sh   (an already running manager)
# Env: RPC=GetStats|Lookup, N=calls per tool and setting (50000), ROUNDS=5 (alternating runs
#      of each tool, N/ROUNDS calls each; the median of the per-round ratios is gated), CONNS=4,
#      STREAMS=16 (in flight per connection), PDBENCH=path to pdbench, TOLERANCE=0.25, STRICT=1
#      to gate the throughput-bound setting too, PIN=0 to leave CPU affinity alone (by default
#      the manager runs on the first allowed CPU and both tools on the others).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RPC="${RPC:-GetStats}"
N="${N:-50000}"
CONNS="${CONNS:-4}"
STREAMS="${STREAMS:-16}"
TOLERANCE="${TOLERANCE:-0.25}"
ROUNDS="${ROUNDS:-5}"

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
H2_HEADERS=(-H "content-type: application/grpc" -H "te: trailers")

# Pinning: the manager gets the first allowed CPU and both tools the others, so neither client's
# CPU competes with the server it measures (as a load generator on its own machine would).
# Unpinned on 2 cores the two tools' rates swung by 30% from run to run with the host's load.
CLIENT=()
SERVER_PID="$(pid_of_addr "$CACHE" || true)"
# CPUs this shell may use, as a list ("0,1" or "0-3"), expanded by python.
ALLOWED="$(taskset -pc $$ 2>/dev/null | sed -n 's/.*: *//p' || true)"
read -r SERVER_CPU CLIENT_CPUS < <(python3 -c '
import sys
cpus = []
for part in sys.argv[1].split(","):
    if "-" in part:
        a, b = part.split("-"); cpus += range(int(a), int(b) + 1)
    elif part.strip():
        cpus.append(int(part))
print(cpus[0] if cpus else "", ",".join(map(str, cpus[1:])))' "${ALLOWED:-}")
if [ "${PIN:-1}" = 1 ] && [ -n "$SERVER_PID" ] && [ -n "${CLIENT_CPUS:-}" ]; then
  SERVER_MASK="$(taskset -p "$SERVER_PID" 2>/dev/null | sed -n 's/.*: *//p' || true)"
  if [ -n "$SERVER_MASK" ] && taskset -apc "$SERVER_CPU" "$SERVER_PID" >/dev/null 2>&1; then
    CLIENT=(taskset -c "$CLIENT_CPUS")
    echo "manager (pid $SERVER_PID) pinned to CPU $SERVER_CPU, h2load and pdbench to CPUs $CLIENT_CPUS"
    unpin() { taskset -ap "$SERVER_MASK" "$SERVER_PID" >/dev/null 2>&1 || true; }
    trap 'unpin; stop_stack; rm -rf "$WORK"' EXIT
  else
    echo "could not pin the manager (pid $SERVER_PID); running unpinned" >&2
  fi
else
  echo "running unpinned (PIN=${PIN:-1}, manager pid '${SERVER_PID}', CPUs '${ALLOWED:-?}')" >&2
fi

# measure CONNS STREAMS GATED: ROUNDS alternating runs of h2load and pdbench at CONNS
# connections x STREAMS calls in flight each, N/ROUNDS calls per run; prints each round's rates,
# the best of each tool and the median of the per-round ratios; with GATED=1 fails if that
# median differs from 1 by more than TOLERANCE, or if any pdbench call was not OK.
measure() {
  local conns="$1" streams="$2" gated="$3" conc=$(( $1 * $2 )) per=$(( N / ROUNDS ))
  # Warm-up with both tools; results discarded.
  "${CLIENT[@]}" "$PDBENCH" rpc --config "$CONFIG" --total 2000 --concurrency "$conc" \
    --connections "$conns" "$CACHE" >/dev/null 2>&1 || true
  "${CLIENT[@]}" h2load -n 2000 -c "$conns" -m "$streams" -t 1 --data="$WORK/body.bin" \
    "${H2_HEADERS[@]}" "$URL" >/dev/null 2>&1 || true
  : > "$WORK/rounds.txt"
  local r h2_rps h2_ok pd_rps pd_status
  for r in $(seq 1 "$ROUNDS"); do
    "${CLIENT[@]}" h2load -n "$per" -c "$conns" -m "$streams" -t 1 --data="$WORK/body.bin" \
      "${H2_HEADERS[@]}" "$URL" > "$WORK/h2load.txt"
    h2_rps="$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$WORK/h2load.txt")"
    h2_ok="$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$WORK/h2load.txt")"
    [ -n "$h2_rps" ] || { cat "$WORK/h2load.txt" >&2; die "could not read h2load's rate"; }
    pd_status=0
    rm -f "$WORK/pdbench.json"
    "${CLIENT[@]}" "$PDBENCH" rpc --config "$CONFIG" --total "$per" --concurrency "$conc" \
      --connections "$conns" --expect_codes OK --output "$WORK/pdbench.json" "$CACHE" \
      2>/dev/null || pd_status=$?
    [ -s "$WORK/pdbench.json" ] || die "pdbench wrote no summary (exit $pd_status)"
    pd_rps="$(json_get "$WORK/pdbench.json" rps)"
    echo "$h2_rps $h2_ok $pd_rps $pd_status" >> "$WORK/rounds.txt"
  done
  python3 - "$WORK/rounds.txt" "$TOLERANCE" "$per" "$conns" "$streams" "$gated" <<'PY'
import statistics, sys
rounds = [l.split() for l in open(sys.argv[1]) if l.strip()]
tol, per, conns, streams, gated = float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] == "1"
print(f"-- {conns} connection(s) x {streams} in flight, {len(rounds)} rounds of {per} calls per tool")
ratios, all_ok = [], True
for i, (h2, h2_ok, pd, status) in enumerate(rounds, 1):
    h2, pd = float(h2), float(pd)
    ratios.append(pd / h2)
    all_ok &= status == "0"
    print(f"   round {i}: h2load {h2:8.0f}/s ({h2_ok}/{per} HTTP-successful), "
          f"pdbench {pd:8.0f}/s (gRPC all OK: {'yes' if status == '0' else 'NO'}), ratio {pd / h2:.3f}")
best_h2 = max(float(r[0]) for r in rounds)
best_pd = max(float(r[2]) for r in rounds)
median = statistics.median(ratios)
diff = abs(1 - median) / max(1.0, median)  # relative to the faster tool, either way
print(f"   best  h2load {best_h2:8.0f}/s, pdbench {best_pd:8.0f}/s, ratio {best_pd / best_h2:.3f}")
ok = all_ok and (diff <= tol or not gated)
verdict = "PASS" if ok else "FAIL"
if not gated and diff > tol:
    verdict = "over the limit, reported only (client CPU bounds the rate)"
print(f"   median ratio pdbench/h2load {median:.3f}, difference {diff:.1%} (limit {tol:.0%}): {verdict}")
sys.exit(0 if ok else 1)
PY
}

# Latency-bound (one call in flight): both tools measure the server's round trip, so the rates
# must agree. Throughput-bound (CONNS x STREAMS): reported; the gRPC C++ client spends about
# twice h2load's CPU per call, so on a small machine the client's CPUs bound pdbench's rate
# before the server does; gated only with STRICT=1.
FAIL=0
measure 1 1 1 || FAIL=1
measure "$CONNS" "$STREAMS" "${STRICT:-0}" || FAIL=1
[ "$FAIL" = 0 ] && echo PASS || echo FAIL
exit "$FAIL"
