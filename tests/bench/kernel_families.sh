#!/usr/bin/env bash
# decoder_bench once per kernel family this CPU has (PDSERVE_KERNELS=portable is left out: it is
# for CPUs with neither), in alternating rounds on the same host, then a table of the medians and
# of each family's ratio to avx2. Extra binaries to compare (e.g. an older build) may be given
# as NAME=PATH arguments; they run in the same rounds with the default family.
# Usage: tests/bench/kernel_families.sh [--rounds=N] [--quick] [NAME=PATH ...]
# Environment: BUILD_DIR (default build). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=3
QUICK=()
EXTRA=()
for arg in "$@"; do
  case "$arg" in
    --rounds=*) ROUNDS="${arg#--rounds=}" ;;
    --quick) QUICK=(--quick) ;;
    *=*) EXTRA+=("$arg") ;;
    *) echo "kernel_families.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR
deploy/build.sh decoder_bench >&2
BENCH="$BUILD_DIR/bin/decoder_bench"
OUT="$BUILD_DIR/bench-results/kernel_families"
mkdir -p "$OUT"
rm -f "$OUT"/*.json

FAMILIES=(avx2)
grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && FAMILIES+=(avx512)
for r in $(seq 1 "$ROUNDS"); do
  for f in "${FAMILIES[@]}"; do
    echo "== round $r: $f" >&2
    PDSERVE_KERNELS="$f" "$BENCH" "${QUICK[@]}" >"$OUT/$f.$r.json" 2>/dev/null
  done
  for e in "${EXTRA[@]}"; do
    echo "== round $r: ${e%%=*}" >&2
    "${e#*=}" "${QUICK[@]}" >"$OUT/${e%%=*}.$r.json" 2>/dev/null
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
runs = {}
for p in sorted(glob.glob(os.path.join(out, "*.json"))):
    name = os.path.basename(p).rsplit(".", 2)[0]
    runs.setdefault(name, []).append(json.load(open(p)))
def figures(d):
    f = {}
    for ctx in ("128", "1024", "4096"):
        f[f"decode b=1 ctx {ctx} (tok/s)"] = d["decode_b1"][ctx]["tokens_per_s"]
        f[f"decode b=1 ctx {ctx} / read bw"] = d["decode_b1"][ctx]["fraction_of_read_bandwidth"]
    f["decode batch 16 (tok/s)"] = d["decode_batch"]["16"]["tokens_per_s"]
    f["batch 16 / batch 1"] = d["decode_batch"]["16"]["speedup_vs_batch1"]
    for t in ("128", "1024"):
        f[f"prefill {t} (tok/s)"] = d["prefill"][t]["tokens_per_s"]
        f[f"prefill {t} / Eigen GEMM"] = d["prefill"][t]["fraction_of_eigen"]
    f["attention ctx 4096 (K/V GB/s)"] = d["attention_4096"]["kv_GBps"]
    return f
med = {n: {k: statistics.median(figures(d)[k] for d in ds) for k in figures(ds[0])}
       for n, ds in runs.items()}
names = [n for n in ("avx2", "avx512") if n in med] + sorted(n for n in med if n not in ("avx2", "avx512"))
print("| figure (median of %d rounds) | %s |%s" % (
    len(next(iter(runs.values()))), " | ".join(names),
    " avx512 / avx2 |" if "avx512" in med else ""))
print("|---" * (len(names) + 1 + ("avx512" in med)) + "|")
for k in med[names[0]]:
    row = " | ".join("%.3g" % med[n][k] for n in names)
    ratio = " %.2f |" % (med["avx512"][k] / med["avx2"][k]) if "avx512" in med else ""
    print(f"| {k} | {row} |{ratio}")
PY
