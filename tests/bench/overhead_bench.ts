/**
 * Tracing overhead: decode rate through `session.trace()` against two bare loops on the same
 * model file, threads, context and batch size, in one process, interleaved (each round rotates
 * which loop goes first, so drift and warm-up hit all alike):
 * - `bare`: node-llama-cpp's public `sequence.evaluate()` loop (the reference).
 *   Target: median ratio tracer / bare >= 0.99.
 * - `native`: the tracer's own decode loop on node-llama-cpp's native context (batch, decode,
 *   sample; sampler configured once) with nothing recorded, so tracer / native is the cost of
 *   the recording alone.
 *
 * The bare loops read the clock three times per run (start, first token, last token) and do
 * nothing per token; the tracer does its usual per-token work (one clock read, typed-array
 * stores, end-of-generation and stop checks) and has llama.cpp's performance counters on.
 * Decode rate of a run = (tokens - 1) / (last token time - first token time): the mean rate over
 * all decode steps, stalls included.
 * All three loops run with the tracer's default placement: a one-thread run pins the process
 * to one CPU (`cpuAffinity: "auto"`), the bare loops through the same `pinProcessThreads()`.
 *
 * ```sh
 * deno task synth --preset lfm2-350m --dtype q8_0   # once: data/models/lfm2-350m-q8_0.gguf
 * deno run -A tests/bench/overhead_bench.ts [--model m.gguf] [--threads 1] [--tokens 128] \
 *   [--pairs 10] [--json .cache/bench/overhead.json]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { openSession } from "../../lib/tracer/tracer.ts";
import { type NativeInternals, nativeInternals } from "../../lib/tracer/_native.ts";
import { sharedLlama } from "../../lib/tracer/_llama.ts";
import { blockingPoolThreads, settleBlockingPool } from "../../lib/runtime/pool.ts";
import { autoPin } from "../../lib/runtime/affinity.ts";

/** Options of {@linkcode overheadBench}. */
export interface OverheadBenchOptions {
  /** GGUF model path. @default "data/models/lfm2-350m-q8_0.gguf" */
  model?: string;
  /** Compute threads of both loops. @default 1 */
  threads?: number;
  /** Generated tokens per run. @default 128 */
  tokens?: number;
  /** Measured rounds (one run of each loop), after one warm-up round. @default 10 */
  pairs?: number;
  /** Raw prompt of every run. @default "The history of computing" */
  prompt?: string;
}

/** One measured run. */
export interface OverheadRun {
  /** Which loop. */
  loop: "bare" | "native" | "tracer";
  /** Index of the round, from 0. */
  pair: number;
  /** Tokens generated. */
  tokens: number;
  /** Run start to first token, ms. */
  ttftMs: number;
  /** First token to last token, ms. */
  decodeMs: number;
  /** (tokens - 1) / decode, tokens per second. */
  decodeTokensPerS: number;
  /** llama.cpp's own eval time of the run, ms (tracer only; NaN for the bare loops). */
  llamaEvalMs: number;
  /** Deno blocking-pool threads just before the run (undefined where not countable). */
  poolThreads: number | undefined;
}

/** Result of {@linkcode overheadBench}. */
export interface OverheadResult {
  /** The settings used. */
  settings: Required<OverheadBenchOptions>;
  /** Median decode rate of the bare loop, tokens/s. */
  bareMedian: number;
  /** Median decode rate of the tracer, tokens/s. */
  tracerMedian: number;
  /** Median over rounds of tracer rate / bare rate. */
  ratioMedian: number;
  /** Smallest and largest round ratio tracer / bare. */
  ratioRange: [number, number];
  /** Median decode rate of the native loop, tokens/s. */
  nativeMedian: number;
  /** Median over rounds of tracer rate / native rate: the recording's own cost. */
  ratioNativeMedian: number;
  /** Smallest and largest round ratio tracer / native. */
  ratioNativeRange: [number, number];
  /** Every measured run (warm-up pair left out). */
  runs: OverheadRun[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function bareRun(
  sequence: LlamaContextSequence,
  input: Token[],
  tokens: number,
): Promise<{ n: number; ttftMs: number; decodeMs: number }> {
  await sequence.clearHistory();
  let n = 0;
  let first = 0;
  const start = performance.now();
  for await (const _ of sequence.evaluate(input, { temperature: 0, yieldEogToken: true })) {
    n++;
    if (n === 1) first = performance.now();
    if (n === tokens) break;
  }
  const end = performance.now();
  return { n, ttftMs: first - start, decodeMs: end - first };
}

async function nativeRun(
  sequence: LlamaContextSequence,
  native: NativeInternals,
  input: Token[],
  tokens: number,
): Promise<{ n: number; ttftMs: number; decodeMs: number }> {
  await sequence.clearHistory();
  const ctx = native.context;
  const seq = native.sequenceId;
  const sampler = native.newSampler();
  sampler.applyConfig(native.samplerConfig({ temperature: 0, topK: 40, topP: 0.95, seed: 0 }));
  const one = new Uint32Array(1);
  const row0 = Uint32Array.of(0);
  let n = 0;
  let first = 0;
  let position = input.length;
  const start = performance.now();
  try {
    ctx.initBatch(input.length);
    const rows = ctx.addToBatch(seq, 0, Uint32Array.from(input), Uint32Array.of(input.length - 1));
    await ctx.decodeBatch();
    let token = await ctx.sampleToken(rows[0]!, sampler);
    while (true) {
      n++;
      if (n === 1) first = performance.now();
      if (n === tokens || token < 0) break;
      one[0] = token;
      ctx.initBatch(1);
      const r = ctx.addToBatch(seq, position++, one, row0);
      await ctx.decodeBatch();
      token = await ctx.sampleToken(r[0]!, sampler);
    }
  } finally {
    sampler.dispose();
    ctx.removeTokenCellsFromSequence(seq, 0, position);
  }
  const end = performance.now();
  return { n, ttftMs: first - start, decodeMs: end - first };
}

/**
 * Runs the overhead benchmark: one warm-up pair, then `pairs` interleaved pairs.
 *
 * @param options Model, threads, tokens per run, pairs, prompt.
 * @returns Medians, ratios and every run.
 */
export async function overheadBench(options: OverheadBenchOptions = {}): Promise<OverheadResult> {
  const {
    model = "data/models/lfm2-350m-q8_0.gguf",
    threads = 1,
    tokens = 128,
    pairs = 10,
    prompt = "The history of computing",
  } = options;
  const session = await openSession(model, { threads, gpu: "cpu", contextSize: 1024 });
  const llama = await sharedLlama("cpu");
  const bareModel = await llama.loadModel({ modelPath: model });
  const context = await bareModel.createContext({
    contextSize: session.info.context_size!,
    batchSize: session.info.batch_size!,
    flashAttention: false,
    threads,
    sequences: 1,
  });
  const sequence = context.getSequence();
  const bos = bareModel.tokens.bos;
  const text = bareModel.tokenize(prompt, false);
  const input = bos !== null && bareModel.tokens.shouldPrependBosToken ? [bos, ...text] : text;

  const internals = nativeInternals(llama, bareModel, context, sequence);
  if (internals === undefined) {
    throw new Error("node-llama-cpp's native calls are not where expected");
  }

  const loops = ["bare", "native", "tracer"] as const;
  const runs: OverheadRun[] = [];
  try {
    for (let pair = -1; pair < pairs; pair++) {
      const shift = ((pair % 3) + 3) % 3;
      for (const loop of [...loops.slice(shift), ...loops.slice(0, shift)]) {
        let run: OverheadRun;
        // Every loop starts from the same pool state: with more than one idle pool thread, decode
        // calls move between threads at random and 2-thread decode slows by 20-40% (see
        // lib/tracer/_decode.ts, which applies the same rule to its own runs).
        if (threads > 1 && (blockingPoolThreads() ?? 0) > 1) {
          await settleBlockingPool({ maxThreads: 0 });
        }
        const poolThreads = blockingPoolThreads();
        if (loop !== "tracer") {
          // The same placement as the tracer's default (`cpuAffinity: "auto"`): a one-thread
          // run pins the process to one CPU, so the ratios compare loops, not placements.
          const pin = autoPin(threads);
          let r: { n: number; ttftMs: number; decodeMs: number };
          try {
            r = loop === "bare"
              ? await bareRun(sequence, input, tokens)
              : await nativeRun(sequence, internals, input, tokens);
          } finally {
            pin?.restore();
          }
          run = {
            loop,
            pair,
            tokens: r.n,
            ttftMs: r.ttftMs,
            decodeMs: r.decodeMs,
            decodeTokensPerS: (r.n - 1) / (r.decodeMs / 1000),
            llamaEvalMs: Number.NaN,
            poolThreads,
          };
        } else {
          const { summary: s } = await session.trace(prompt, {
            mode: "raw",
            maxTokens: tokens,
            settleThreadPool: false, // settled above, like the bare loops
          });
          run = {
            loop,
            pair,
            tokens: s.output_tokens,
            ttftMs: s.ttft_ms,
            decodeMs: s.decode_ms,
            decodeTokensPerS: s.decode_tokens_per_s,
            llamaEvalMs: s.engine_decode_ms!,
            poolThreads,
          };
        }
        if (pair >= 0) runs.push(run);
      }
    }
  } finally {
    await context.dispose();
    await bareModel.dispose();
    await session.close();
  }
  const rate = (loop: OverheadRun["loop"]): number[] =>
    runs.filter((r) => r.loop === loop).map((r) => r.decodeTokensPerS);
  const bare = rate("bare");
  const native = rate("native");
  const tracer = rate("tracer");
  const ratios = tracer.map((t, i) => t / bare[i]!);
  const nativeRatios = tracer.map((t, i) => t / native[i]!);
  return {
    settings: { model, threads, tokens, pairs, prompt },
    bareMedian: median(bare),
    tracerMedian: median(tracer),
    ratioMedian: median(ratios),
    ratioRange: [Math.min(...ratios), Math.max(...ratios)],
    nativeMedian: median(native),
    ratioNativeMedian: median(nativeRatios),
    ratioNativeRange: [Math.min(...nativeRatios), Math.max(...nativeRatios)],
    runs,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      threads: { type: "string" },
      tokens: { type: "string" },
      pairs: { type: "string" },
      json: { type: "string", default: ".cache/bench/overhead.json" },
    },
  });
  const result = await overheadBench({
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(values.threads === undefined ? {} : { threads: Number(values.threads) }),
    ...(values.tokens === undefined ? {} : { tokens: Number(values.tokens) }),
    ...(values.pairs === undefined ? {} : { pairs: Number(values.pairs) }),
  });
  const { settings: s } = result;
  console.log(
    `tracing overhead: ${s.model}, ${s.threads} thread(s), ${s.tokens} tokens, ${s.pairs} interleaved pairs`,
  );
  console.log(`bare evaluate() loop  median decode ${result.bareMedian.toFixed(2)} tokens/s`);
  console.log(`bare native loop      median decode ${result.nativeMedian.toFixed(2)} tokens/s`);
  console.log(`tracer                median decode ${result.tracerMedian.toFixed(2)} tokens/s`);
  console.log(
    `ratio tracer/bare     median ${result.ratioMedian.toFixed(4)} (pairs ${
      result.ratioRange.map((r) => r.toFixed(4)).join(" to ")
    }; target >= 0.99)`,
  );
  console.log(
    `ratio tracer/native   median ${result.ratioNativeMedian.toFixed(4)} (rounds ${
      result.ratioNativeRange.map((r) => r.toFixed(4)).join(" to ")
    })`,
  );
  const dir = values.json.slice(0, values.json.lastIndexOf("/"));
  if (dir !== "") await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2) + "\n");
  console.log(`raw numbers: ${values.json}`);
}
