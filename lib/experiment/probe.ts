/**
 * Thread-count probe: times short decode runs at several thread counts, interleaved, and
 * recommends one with {@linkcode recommendThreads} (the rule `compareThreads()` uses for a
 * session's runs): the fewest threads whose pooled decode rate (stalls included) ties with
 * the fastest's.
 *
 * On CPU, llama.cpp's compute threads meet at a spinning barrier after every operation of the
 * graph, so one descheduled thread stalls all the others: a thread count that is fast on an
 * idle machine can be several times slower when anything else wants the cores. Probe on the
 * machine as it will be used.
 *
 * @module
 */

import type { TraceOptions, TraceResult } from "../tracer/source.ts";
import { settleBlockingPool } from "../runtime/pool.ts";
import { recommendThreads, THREADS_TOLERANCE } from "./threads.ts";
import { type Estimate, medianInPlace } from "../stats/stats.ts";

/** The part of a tracer session the probe needs (any object with `trace()` will do). */
export interface ThreadsProbeTarget {
  /** Traces one generation; see `Session.trace()`. */
  trace(prompt: string, options?: TraceOptions): Promise<TraceResult>;
}

/** Options of {@linkcode probeThreads}. */
export interface ThreadsProbeOptions {
  /**
   * Thread counts to try.
   * @default {1 up to the logical cores (`navigator.hardwareConcurrency`)}
   */
  candidates?: readonly number[];
  /**
   * Output tokens per probe run.
   * @default {32}
   */
  tokens?: number;
  /**
   * Rounds; each round runs every candidate once, in a rotated order.
   * @default {3}
   */
  rounds?: number;
  /**
   * Prompt of the probe runs (raw mode, greedy).
   * @default {"The"}
   */
  prompt?: string;
  /**
   * A candidate whose rate ratio fastest / candidate is below 1 + tolerance ties with the
   * fastest (as does one whose ratio interval reaches 1); ties go to fewer threads, which
   * leave cores to the rest of the machine and stall less (see {@linkcode recommendThreads}).
   * @default {THREADS_TOLERANCE (0.02)}
   */
  tolerance?: number;
  /**
   * After the warm-up run, wait for Deno's blocking pool to settle (see
   * {@linkcode settleBlockingPool}) when a candidate uses more than one thread.
   * @default {true}
   */
  settle?: boolean;
  /** Called after each probe run with the thread count and its decode rate. */
  onRun?: (threads: number, tokensPerSecond: number) => void;
}

/** Probe results for one thread count. */
export interface ThreadsProbeRow {
  /** Compute threads. */
  threads: number;
  /** Decode tokens/s of each round: (output tokens − 1) / decode time, stalls included. */
  samplesTokensPerS: number[];
  /** Median over rounds of the decode rate, tokens/s (reported; not what is compared). */
  medianTokensPerS: number;
  /**
   * Pooled decode rate over the rounds: Σ decode tokens / Σ decode time, tokens/s, stalls
   * included; what the recommendation compares.
   */
  tokensPerS: number;
  /** The fastest candidate's pooled rate over this one's, with its 95% interval. */
  fastestRatio: Estimate;
  /** Whether this candidate ties with the fastest (see {@linkcode recommendThreads}). */
  tiesFastest: boolean;
  /** Slowest single token seen at this setting, ms. */
  maxTokenMs: number;
}

/** Result of {@linkcode probeThreads}. */
export interface ThreadsProbeResult {
  /** The recommended thread count. */
  best: number;
  /** The candidate with the highest pooled decode rate. */
  fastest: number;
  /** One row per candidate, in the order given. */
  rows: ThreadsProbeRow[];
}

/**
 * Probes thread counts with short greedy runs (after one untimed warm-up run), rounds
 * interleaved, and recommends one by the rule of {@linkcode recommendThreads}: the fewest
 * threads whose pooled decode rate over the rounds ties with the fastest's (rate ratio below
 * 1 + `tolerance`, or its 95% interval over rounds reaching 1; with one round only the
 * tolerance decides).
 *
 * @param target A tracer session (or anything with a compatible `trace()`).
 * @param options Candidates, tokens per run, rounds, prompt, tolerance.
 * @returns The recommended thread count and every candidate's rates.
 * @throws {RangeError} When a candidate is not a positive integer or appears twice, or there
 * are none.
 *
 * @example Pick the faster of two settings (a fake session stands in for a model)
 * ```ts
 * import { probeThreads, type ThreadsProbeTarget, type TraceResult } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const fake: ThreadsProbeTarget = {
 *   trace: (_prompt, options) => {
 *     const ms = options?.threads === 2 ? 10 : 20; // 2 threads decode twice as fast
 *     const n = options?.maxTokens ?? 32;
 *     return Promise.resolve({
 *       summary: { output_tokens: n, decode_ms: ms * (n - 1) },
 *       tokens: { latency_ms: new Float64Array(n).fill(ms) },
 *     } as unknown as TraceResult);
 *   },
 * };
 * const result = await probeThreads(fake, { candidates: [1, 2], rounds: 2, settle: false });
 * assert.equal(result.best, 2);
 * assert.equal(result.rows[1]!.tokensPerS, 100);
 * assert.equal(result.rows[0]!.fastestRatio.value, 2);
 * ```
 */
export async function probeThreads(
  target: ThreadsProbeTarget,
  options: ThreadsProbeOptions = {},
): Promise<ThreadsProbeResult> {
  const {
    candidates = Array.from({ length: navigator.hardwareConcurrency }, (_, i) => i + 1),
    tokens = 32,
    rounds = 3,
    prompt = "The",
    tolerance = THREADS_TOLERANCE,
    settle = true,
    onRun,
  } = options;
  if (candidates.length === 0) {
    throw new RangeError("Cannot probe threads: candidates is empty");
  }
  for (const t of candidates) {
    if (!Number.isInteger(t) || t < 1) {
      throw new RangeError(
        `Cannot probe threads: every candidate must be a positive integer, found ${t}`,
      );
    }
  }
  if (new Set(candidates).size !== candidates.length) {
    throw new RangeError(
      `Cannot probe threads: every candidate must appear once, found ${candidates.join(",")}`,
    );
  }
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new RangeError(
      `Cannot probe threads: tolerance must be a number from 0 to below 1, found ${tolerance}`,
    );
  }
  if (!Number.isInteger(tokens) || tokens < 2) {
    throw new RangeError(`Cannot probe threads: tokens must be an integer >= 2, found ${tokens}`);
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(
      `Cannot probe threads: rounds must be a positive integer, found ${rounds}`,
    );
  }
  const run = (threads: number): Promise<TraceResult> =>
    target.trace(prompt, { mode: "raw", maxTokens: tokens, temperature: 0, threads });

  await run(candidates[0]!); // warm-up: page cache, context creation
  if (settle && candidates.some((t) => t > 1)) await settleBlockingPool();
  const samples = candidates.map(() => [] as number[]);
  const decodeTokens = candidates.map(() => [] as number[]);
  const decodeMs = candidates.map(() => [] as number[]);
  const maxMs = candidates.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length; // rotate so no setting always runs first
      const threads = candidates[i]!;
      const { summary, tokens: cols } = await run(threads);
      const rate = (summary.output_tokens - 1) / (summary.decode_ms / 1000);
      samples[i]!.push(rate);
      decodeTokens[i]!.push(summary.output_tokens - 1);
      decodeMs[i]!.push(summary.decode_ms);
      for (let j = 1; j < cols.latency_ms.length; j++) {
        maxMs[i] = Math.max(maxMs[i]!, cols.latency_ms[j]!);
      }
      onRun?.(threads, rate);
    }
  }
  const recommended = recommendThreads(
    candidates.map((threads, i) => ({
      threads,
      decodeTokens: decodeTokens[i]!,
      decodeMs: decodeMs[i]!,
    })),
    { tolerance },
  );
  const rows = candidates.map((threads, i): ThreadsProbeRow => ({
    threads,
    samplesTokensPerS: samples[i]!,
    medianTokensPerS: medianInPlace(Float64Array.from(samples[i]!)),
    tokensPerS: recommended.rows[i]!.tokensPerS,
    fastestRatio: recommended.rows[i]!.fastestRatio,
    tiesFastest: recommended.rows[i]!.tiesFastest,
    maxTokenMs: maxMs[i]!,
  }));
  return { best: recommended.best, fastest: recommended.fastest, rows };
}
