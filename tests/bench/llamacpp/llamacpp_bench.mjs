// llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binaries) on a GGUF export of
// synthetic:bench, measured like decoder_bench: prompt rate for 128 and 1024 tokens (best of 3),
// batch-1 decode rate at contexts 128/1024/4096 (32 greedy steps, best of 2), 2 threads.
// K/V cache in F32 like pdserve's (KV_TYPE=F16 for llama.cpp's default). Prints one JSON line.
// Usage: node llamacpp_bench.mjs MODEL.gguf  (run.sh installs the package and runs it)
import {getLlama} from "node-llama-cpp";
const kv = process.env.KV_TYPE || "F32";
const llama = await getLlama({gpu: false, build: "never", maxThreads: 2, logLevel: "warn"});
const model = await llama.loadModel({modelPath: process.argv[2], gpuLayers: 0});
const ctx = await model.createContext({contextSize: 4224, batchSize: 512, threads: {ideal: 2, min: 2},
  experimentalKvCacheKeyType: kv, experimentalKvCacheValueType: kv, flashAttention: false});
const seq = ctx.getSequence();
const toks = (n, salt) => Array.from({length: n}, (_, i) => 300 + ((i * 7919 + salt) % 31000));
const now = () => Number(process.hrtime.bigint()) / 1e9;
const out = {kv_cache_type: kv, threads: 2, prefill: {}, decode_b1: {}};
for (const n of [128, 1024]) {
  let best = Infinity;
  for (let r = 0; r < 3; ++r) {
    await seq.clearHistory();
    const t0 = now();
    await seq.evaluateWithoutGeneratingNewTokens(toks(n, r));
    best = Math.min(best, now() - t0);
  }
  out.prefill[n] = {tokens_per_s: n / best};
  console.error(`prefill ${n}: ${(n / best).toFixed(1)} tok/s`);
}
for (const c of [128, 1024, 4096]) {
  let best = Infinity;
  for (let r = 0; r < 2; ++r) {
    await seq.clearHistory();
    const prompt = toks(c, 17 + r);
    await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, c - 1));
    const steps = 33;
    let count = 0, t0 = 0;
    for await (const t of seq.evaluate([prompt[c - 1]], {temperature: 0})) {
      if (++count === 1) t0 = now();       // time steps 2..33: 32 decode steps
      if (count === steps) break;
    }
    best = Math.min(best, (now() - t0) / (steps - 1));
  }
  out.decode_b1[c] = {tokens_per_s: 1 / best};
  console.error(`decode ctx ${c}: ${(1 / best).toFixed(1)} tok/s`);
}
console.log(JSON.stringify(out));
await ctx.dispose(); await model.dispose(); await llama.dispose();
