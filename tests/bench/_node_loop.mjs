// Plain node-llama-cpp decode under Node.js, no Deno and no tokentrace: the parity row's
// "node-llama-cpp in Node" contender. It drives the same native calls as tokentrace's loop
// (initBatch/addToBatch/decodeBatch/sampleToken, greedy, one sampler per run), after one
// full-length warm-up run, and prints one JSON line:
//   { tokensPerS, decodeMs, llamaEvalMs, llamaEvalTokens, latenciesMs }
// Plain JavaScript because the machine's Node may predate TypeScript stripping.
//
// Usage: node tests/bench/_node_loop.mjs <model.gguf> <threads> <tokens>

import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [model, threadsArg, tokensArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const tokens = Number(tokensArg);
if (!model || !(threads >= 1) || !(tokens >= 2)) {
  console.error("Usage: node _node_loop.mjs <model.gguf> <threads >= 1> <tokens >= 2>");
  process.exit(2);
}

const logs = [];
const llama = await getLlama({
  gpu: false,
  logLevel: LlamaLogLevel.info,
  logger: (_level, message) => logs.push(message),
});
const loaded = await llama.loadModel({ modelPath: model });
const context = await loaded.createContext({
  contextSize: 1024,
  threads,
  flashAttention: false,
  performanceTracking: true,
});
const sequence = context.getSequence();
const native = context._ctx;
const seqId = sequence._sequenceId;
const prompt = Uint32Array.from(loaded.tokenize("The quick brown fox"));
const EVAL = /llama_perf_context_print:\s+eval time =\s*([\d.]+) ms \/\s*(\d+) runs/;

async function run() {
  await context.printTimings(); // resets llama.cpp's counters
  await new Promise((resolve) => setTimeout(resolve, 20)); // the log lines arrive asynchronously
  logs.length = 0;
  const sampler = new llama._bindings.AddonSampler(loaded._model);
  sampler.applyConfig({ temperature: 0, minP: 0, topK: 40, topP: 0.95, seed: 0 });
  const latencies = new Float64Array(tokens);
  const one = new Uint32Array(1);
  const firstRow = Uint32Array.of(0);
  let position = 0;
  let n = 0;
  const start = performance.now();
  let previous = start;
  native.initBatch(prompt.length);
  let rows = native.addToBatch(seqId, 0, prompt, Uint32Array.of(prompt.length - 1));
  position = prompt.length;
  await native.decodeBatch();
  let token = await native.sampleToken(rows[0], sampler);
  while (true) {
    const now = performance.now();
    latencies[n++] = now - previous;
    previous = now;
    if (n === tokens) break;
    one[0] = token;
    native.initBatch(1);
    rows = native.addToBatch(seqId, position++, one, firstRow);
    await native.decodeBatch();
    token = await native.sampleToken(rows[0], sampler);
  }
  sampler.dispose();
  native.removeTokenCellsFromSequence(seqId, 0, position);
  await context.printTimings();
  await new Promise((resolve) => setTimeout(resolve, 30));
  const match = logs.map((line) => EVAL.exec(line)).find((m) => m !== null);
  let decodeMs = 0;
  for (let i = 1; i < n; i++) decodeMs += latencies[i];
  return {
    tokensPerS: (n - 1) / (decodeMs / 1000),
    decodeMs,
    llamaEvalMs: match ? Number(match[1]) : Number.NaN,
    llamaEvalTokens: match ? Number(match[2]) : Number.NaN,
    latenciesMs: Array.from(latencies),
  };
}

await run(); // full-length warm-up, as the tracer's side has
console.log(JSON.stringify(await run()));
await context.dispose();
await loaded.dispose();
process.exit(0);
