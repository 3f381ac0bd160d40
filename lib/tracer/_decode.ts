/**
 * The in-process decode loop: prefill in batches, then sample and decode one token at a time
 * straight through node-llama-cpp's native context, timing each token with one clock read
 * into a preallocated array; and what is done just before it (settling Deno's blocking pool,
 * pinning the process to CPUs).
 *
 * @module
 */

import type { LlamaModel } from "node-llama-cpp";
import type { StopReason } from "./source.ts";
import type { NativeInternals } from "./_native.ts";
import { autoPin, pinProcessThreads } from "../runtime/affinity.ts";
import { blockingPoolThreads, settleBlockingPool } from "../runtime/pool.ts";

// Deno's blocking pool runs node-llama-cpp's native calls. With one idle pool thread, every
// decode and sampling call runs on it. With two or more, which thread takes a call depends on
// races between a thread finishing its last call and the next call arriving, so the decode
// calls move between threads and at 2 compute threads decode runs 20-40% slower (measured:
// BENCHMARKS.md, investigation). A race can add a second thread during a run. So a
// multi-threaded run first lets idle threads exit when the pool has more than one thread
// beyond `poolBaseline`: the threads that did not exit at the last settling (blocked elsewhere
// for good, e.g. by a test runner).
let poolBaseline = 0;
const poolGrew = (): boolean => (blockingPoolThreads() ?? 0) > poolBaseline + 1;

/**
 * Before a multi-threaded run, lets Deno's idle pool threads exit when the pool grew (see
 * `TraceOptions.settleThreadPool`), calling `onWait` first.
 */
export async function settlePoolFor(
  threads: number,
  onWait: (() => void) | undefined,
): Promise<void> {
  if (threads > 1 && poolGrew()) {
    onWait?.();
    poolBaseline = (await settleBlockingPool({ maxThreads: 0 })).after ?? 0;
  }
}

/** What one decode run needs. */
export interface DecodeRun {
  /** The native calls of the context to decode in. */
  native: NativeInternals;
  /** The model (for end-of-generation ids past `eog`). */
  model: LlamaModel;
  /** Depth filler and prompt tokens, evaluated from position 0. */
  input: Uint32Array;
  /** The context's batch size: prefill goes in batches of it. */
  batchSize: number;
  /** Output token budget. */
  maxTokens: number;
  /** End-of-generation flags by token id. */
  eog: Uint8Array;
  /** The sampling settings. */
  sampling: { temperature: number; topK: number; topP: number; seed: number };
  /** Compute threads of the run (for `cpuAffinity: "auto"`). */
  threads: number;
  /** `TraceOptions.cpuAffinity`, checked. */
  cpuAffinity: "auto" | "off" | readonly number[];
  /** Stops the run after the token in flight. */
  signal: AbortSignal | undefined;
  /** Asked after each token: true stops the run. */
  stopRequested: (() => boolean) | undefined;
  /** Called with each token as it is sampled. */
  onToken: ((index: number, tokenId: number, tMs: number) => void) | undefined;
  /** `TraceOptions.onPrefillBatch`. */
  onPrefillBatch: ((done: number, total: number, elapsedMs: number) => void) | undefined;
}

/** What a decode run measured. */
export interface Decoded {
  /** `performance.now()` when the run's clock started. */
  start: number;
  /** Run start to the first token's logits being ready, ms. */
  prefillMs: number;
  /** Time since run start when each token became available, ms. */
  times: Float64Array;
  /** Each token's id. */
  ids: Int32Array;
  /** Why the run stopped. */
  stopReason: StopReason;
  /** CPUs the process was pinned to (`0`, `2,3`); empty when not pinned. */
  cpus: string;
}

/**
 * Runs prefill and decode in the native context, then erases the run's tokens from the KV
 * cache. The sampler is configured once and the process pinned before the clock starts.
 */
export async function decodeRun(run: DecodeRun): Promise<Decoded> {
  const { native, input, maxTokens, eog, model, signal, stopRequested, onToken, onPrefillBatch } =
    run;
  const sampler = native.newSampler();
  sampler.applyConfig(native.samplerConfig(run.sampling));

  // Hot path: one clock read per token into preallocated arrays; nothing else per token
  // but the stop checks (and the event callback when streaming). Sampling is configured
  // once per run, and the batch calls go straight to llama.cpp's context.
  const ctx = native.context;
  const seqId = native.sequenceId;
  const chunk = run.batchSize;
  const times = new Float64Array(maxTokens);
  const ids = new Int32Array(maxTokens);
  const one = new Uint32Array(1);
  const firstRow = Uint32Array.of(0);
  const noRows = new Uint32Array(0);
  let n = 0;
  let position = 0;
  let stopReason: StopReason = "max_tokens";
  let prefillMs = Number.NaN;
  // Pinned before the clock starts; restored in the finally below.
  const pin = run.cpuAffinity === "off"
    ? undefined
    : run.cpuAffinity === "auto"
    ? autoPin(run.threads)
    : pinProcessThreads(run.cpuAffinity);
  const start = performance.now();
  try {
    // Prefill: depth filler and prompt in batches of the context's batch size; logits for
    // the last input token only.
    let row = 0;
    // The batch before this one, reported once this one is in llama.cpp's hands.
    let reportDone = 0;
    let reportMs = 0;
    for (let from = 0; from < input.length; from += chunk) {
      const tokens = input.subarray(from, from + chunk);
      const last = from + tokens.length === input.length;
      ctx.initBatch(tokens.length);
      const rows = ctx.addToBatch(
        seqId,
        position,
        tokens,
        last ? Uint32Array.of(tokens.length - 1) : noRows,
      );
      position += tokens.length;
      const decoded = ctx.decodeBatch();
      if (reportDone > 0) onPrefillBatch?.(reportDone, input.length, reportMs);
      await decoded;
      if (onPrefillBatch !== undefined) {
        reportDone = position;
        reportMs = performance.now() - start;
      }
      if (last) row = rows[0]!;
    }
    prefillMs = performance.now() - start;
    let token = await ctx.sampleToken(row, sampler);
    while (true) {
      const now = performance.now();
      if (token < 0) throw new Error("Cannot trace: llama.cpp failed to sample a token");
      times[n] = now - start;
      ids[n] = token;
      n++;
      onToken?.(n - 1, token, now - start);
      if (token < eog.length ? eog[token] === 1 : model.isEogToken(token)) {
        stopReason = "eos";
        break;
      }
      if (n === maxTokens) break;
      if (signal?.aborted === true || stopRequested?.() === true) {
        stopReason = "interrupted";
        break;
      }
      one[0] = token;
      ctx.initBatch(1);
      const rows = ctx.addToBatch(seqId, position, one, firstRow);
      position++;
      await ctx.decodeBatch();
      token = await ctx.sampleToken(rows[0]!, sampler);
    }
  } finally {
    pin?.restore();
    sampler.dispose();
    // The sequence's JS state never saw these tokens: erase them from the KV cache here.
    ctx.removeTokenCellsFromSequence(seqId, 0, position);
  }
  if (n === 0) throw new Error("Cannot trace: llama.cpp ended the run without a token");
  return {
    start,
    prefillMs,
    times: times.slice(0, n),
    ids: ids.slice(0, n),
    stopReason,
    cpus: pin?.cpus.join(",") ?? "",
  };
}
