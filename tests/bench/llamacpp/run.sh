#!/usr/bin/env bash
# Side by side with llama.cpp on the same weights: exports synthetic:bench as an F32 GGUF,
# installs node-llama-cpp 3.21.1 (prebuilt llama.cpp CPU binaries, from the npm registry) under
# build/llamacpp/, then alternates llama.cpp and decoder_bench ROUNDS times (2) and prints each
# figure's best with the ratio pdserve / llama.cpp. Both use 2 threads and fp32 K/V.
# Needs node >= 20 and npm. Not a test: run it on an otherwise idle machine.
# Usage: tests/bench/llamacpp/run.sh     Env: ROUNDS=2, BUILD_DIR=build, JOBS=2, KV_TYPE=F32
set -euo pipefail
cd "$(dirname "$0")/../../.."
BUILD_DIR="${BUILD_DIR:-build}"
ROUNDS="${ROUNDS:-2}"
WORK="$BUILD_DIR/llamacpp"
BUILD_DIR="$BUILD_DIR" deploy/build.sh decoder_bench gguf_export >/dev/null
mkdir -p "$WORK"
command -v node >/dev/null || { echo "node (>= 20) and npm are needed" >&2; exit 1; }
if [ ! -d "$WORK/node_modules/@node-llama-cpp/linux-x64" ]; then
  echo "installing node-llama-cpp 3.21.1 into $WORK" >&2
  [ -f "$WORK/package.json" ] || (cd "$WORK" && npm init -y >/dev/null)
  (cd "$WORK" && npm install --no-audit --no-fund --ignore-scripts --omit=optional \
      node-llama-cpp@3.21.1 >/dev/null && \
    npm install --no-audit --no-fund @node-llama-cpp/linux-x64@3.21.1 >/dev/null)
fi
MODEL="$WORK/synthetic-bench-f32.gguf"
[ -s "$MODEL" ] || "$BUILD_DIR/bin/gguf_export" "$MODEL"
cp tests/bench/llamacpp/llamacpp_bench.mjs "$WORK/"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: llama.cpp" >&2
  (cd "$WORK" && node llamacpp_bench.mjs "$(basename "$MODEL")") > "$WORK/llamacpp.$r.json"
  echo "== round $r: pdserve decoder_bench" >&2
  "$BUILD_DIR/bin/decoder_bench" > "$WORK/pdserve.$r.json" 2>/dev/null
done
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
ll = [json.load(open(f"{work}/llamacpp.{r}.json")) for r in range(1, rounds + 1)]
pd = [json.load(open(f"{work}/pdserve.{r}.json")) for r in range(1, rounds + 1)]
rows = [("prefill 128 tokens", "prefill", "128"), ("prefill 1024 tokens", "prefill", "1024"),
        ("decode b=1 ctx 128", "decode_b1", "128"), ("decode b=1 ctx 1024", "decode_b1", "1024"),
        ("decode b=1 ctx 4096", "decode_b1", "4096")]
print(f"llama.cpp (node-llama-cpp 3.21.1, KV {ll[0]['kv_cache_type']}) vs pdserve, 2 threads, "
      f"best of {rounds} alternating rounds, tokens/s")
for label, section, key in rows:
    a = max(x[section][key]["tokens_per_s"] for x in ll)
    b = max(x[section][key]["tokens_per_s"] for x in pd)
    print(f"  {label:22s} llama.cpp {a:8.1f}   pdserve {b:8.1f}   pdserve/llama.cpp {b / a:5.2f}")
PY
