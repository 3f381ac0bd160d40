/**
 * Thread counts compared by decode rate from a dataset's `runs` table, with the
 * recommended count: the "Threads" part of the `tokentrace trace` summary.
 *
 * @module
 */

import { tEstimate } from "../stats/stats.ts";
import type { Estimate } from "../analysis/types.ts";
import type { Frame, LazyFrame } from "../schema/frame.ts";
import { recommendThreads, THREADS_TOLERANCE } from "../experiment/threads.ts";
import { collect, column, medianOrNull, numbers } from "./_columns.ts";

/** One thread count of a {@linkcode ThreadsComparison}: its measured runs pooled over prompts. */
export interface ThreadsRow {
  /** Compute threads. */
  readonly threads: number;
  /** Measured runs pooled: those of the compared prompts with at least one decode token. */
  readonly runs: number;
  /** Decode tokens of these runs (output tokens − 1 each). */
  readonly decodeTokens: number;
  /** Decode time of these runs, ms (first to last token of each run, stalls included). */
  readonly decodeMs: number;
  /**
   * Pooled decode rate: decode tokens / decode time × 1000, tokens/s; the mean rate over every
   * measured decode token, stalls included (the parity benchmark's definition). Compared.
   */
  readonly decodeTokensPerS: number;
  /** Median over runs of each run's decode rate, tokens/s. */
  readonly runDecodeTokensPerSMedian: number;
  /**
   * Mean over runs of each run's decode rate, tokens/s, with a 95% t interval over runs
   * (`low`/`high` are NaN, `null` in JSON, with a single run).
   */
  readonly runDecodeTokensPerSMean: Estimate;
  /**
   * The fastest count's pooled decode rate over this one's, with its 95% interval (method as
   * in {@linkcode ThreadsComparison.ratio}); exactly 1 for the fastest count itself.
   */
  readonly fastestRatio: Estimate;
  /**
   * Whether this count ties with the fastest: `fastestRatio` below 1 + tolerance, or its
   * interval reaching down to 1 (true for the fastest count itself).
   */
  readonly tiesFastest: boolean;
}

/**
 * Thread counts compared at one depth and batch size, and the recommended count.
 *
 * Rule (that of {@linkcode recommendThreads}, which `probeThreads()` uses too): the fastest
 * count is the one with the highest pooled decode rate; a count ties with it when the rate
 * ratio fastest / count is below 1 + `tolerance` or its 95% interval contains 1 (the data
 * cannot tell them apart); the recommendation is the fewest threads among the ties: more
 * threads must be clearly and materially faster to be worth their cores (fewer threads leave
 * cores to the rest of the machine and stall less).
 */
export interface ThreadsComparison {
  /** Context depth of the compared runs, tokens. */
  readonly depthTokens: number;
  /** Batch size of the compared runs, tokens. */
  readonly batchSize: number;
  /**
   * Prompts pooled: those with measured runs at every compared thread count, in the order
   * asked for (see {@linkcode CompareThreadsOptions.promptOrder}).
   */
  readonly promptIds: readonly string[];
  /**
   * Whether every thread count has the same number of measured runs of each prompt and no
   * prompt was left out; when false (an interrupted session), the pooled rates weigh the
   * prompts differently across thread counts.
   */
  readonly balanced: boolean;
  /** One row per thread count, ascending. */
  readonly rows: readonly ThreadsRow[];
  /** The thread count with the highest pooled decode rate. */
  readonly fastest: number;
  /** The recommended thread count: the fewest threads among those tying with the fastest. */
  readonly best: number;
  /** The thread count `best` is compared with: the fastest of the others. */
  readonly next: number;
  /**
   * Pooled decode rate of `best` over that of `next`, with a 95% interval: a Welch t
   * interval on the log ratio, each pooled rate's variance by linearization over its runs
   * (delta method for a ratio estimator); below 1 when a tie went to fewer threads.
   */
  readonly ratio: Estimate;
  /** Ratios below 1 + tolerance count as ties. */
  readonly tolerance: number;
}

/** Options for {@linkcode compareThreads}. */
export interface CompareThreadsOptions {
  /**
   * A count whose rate ratio to the fastest is below 1 + tolerance ties with it.
   *
   * @default {THREADS_TOLERANCE (0.02)}
   */
  tolerance?: number;
  /**
   * Prompt ids in the order to list them in `promptIds`; others follow in order of first run.
   *
   * @default {order of each prompt's first run}
   */
  promptOrder?: readonly string[];
}

/**
 * Compares thread counts by decode rate and recommends one, from a dataset's `runs` table
 * (columns as in `SCHEMA`; measured runs only, warm-ups left out).
 *
 * One comparison per combination of depth and batch size that was measured at more than one
 * thread count: the best count may differ between them, so they are never pooled. Within a
 * combination the prompts are pooled, keeping only prompts measured at every thread count
 * so each count runs the same workload. Per thread count: the pooled decode rate (decode
 * tokens / decode time, stalls included: the mean rate over every measured decode token),
 * the median run decode rate and the mean run decode rate with a 95% t interval over runs.
 * The recommendation is {@linkcode recommendThreads}'s (the rule is in
 * {@linkcode ThreadsComparison}), the same as `probeThreads()` gives from probe runs.
 *
 * @param runs The `runs` table.
 * @param options The tie tolerance and the order of prompt ids.
 * @returns One comparison per depth and batch size with more than one thread count, ordered
 * by batch size then depth; empty when no thread count varies.
 * @throws {RangeError} When `tolerance` is not a number from 0 to below 1.
 *
 * @example Two threads decode clearly faster than one
 * ```ts
 * import { compareThreads } from "@tokentrace/tokentrace";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * // 64 tokens per run: 63 decode tokens in about 1.5 s at 1 thread, about 1 s at 2 threads.
 * const seconds = [1.5, 1.45, 1.55, 1.0, 0.95, 1.05];
 * const runs = pl.DataFrame({
 *   warmup: seconds.map(() => false),
 *   prompt_id: seconds.map(() => "p"),
 *   threads: [1, 1, 1, 2, 2, 2],
 *   depth_tokens: seconds.map(() => 0),
 *   batch_size: seconds.map(() => 512),
 *   output_tokens: seconds.map(() => 64),
 *   decode_ms: seconds.map((s) => s * 1000),
 * });
 * const [c] = compareThreads(runs);
 * assert.equal(c?.best, 2);
 * assert.equal(c?.next, 1);
 * assert.equal(c?.rows[0]?.decodeTokensPerS, 42);
 * assert.ok(c!.ratio.low > 1 && Math.abs(c!.ratio.value - 1.5) < 1e-12);
 * ```
 */
export function compareThreads(
  runs: Frame | LazyFrame,
  options: CompareThreadsOptions = {},
): ThreadsComparison[] {
  const { tolerance = THREADS_TOLERANCE, promptOrder = [] } = options;
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new RangeError(
      `Cannot compare threads: tolerance must be a number from 0 to below 1, found ${tolerance}`,
    );
  }
  const all = collect(runs);
  const r = all.columns.includes("order_index") ? all.sort("order_index") : all;
  const warmup = column(r, "warmup");
  const promptId = column(r, "prompt_id") as string[];
  const threads = numbers(r, "threads");
  const depth = numbers(r, "depth_tokens");
  const batch = numbers(r, "batch_size");
  const output = numbers(r, "output_tokens");
  const decodeMs = numbers(r, "decode_ms");
  // (depth, batch) -> threads -> prompt -> measured runs with decode tokens
  const groups = new Map<string, Map<number, Map<string, number[]>>>();
  for (let i = 0; i < promptId.length; i++) {
    if (warmup[i] !== false || !(output[i]! >= 2 && decodeMs[i]! > 0)) continue;
    const key = JSON.stringify([batch[i], depth[i]]);
    const byThreads = groups.get(key) ?? new Map<number, Map<string, number[]>>();
    groups.set(key, byThreads);
    const byPrompt = byThreads.get(threads[i]!) ?? new Map<string, number[]>();
    byThreads.set(threads[i]!, byPrompt);
    byPrompt.set(promptId[i]!, [...(byPrompt.get(promptId[i]!) ?? []), i]);
  }
  const comparisons: ThreadsComparison[] = [];
  const keys = [...groups.keys()].sort((a, b) => {
    const [ba, da] = JSON.parse(a) as number[];
    const [bb, db] = JSON.parse(b) as number[];
    return ba! - bb! || da! - db!;
  });
  for (const key of keys) {
    const byThreads = groups.get(key)!;
    if (byThreads.size < 2) continue;
    const counts = [...byThreads.keys()].sort((a, b) => a - b);
    const firstRun = new Map<string, number>();
    for (const byPrompt of byThreads.values()) {
      for (const [id, list] of byPrompt) {
        firstRun.set(id, Math.min(firstRun.get(id) ?? Infinity, list[0]!));
      }
    }
    const rank = (id: string): number => {
      const at = promptOrder.indexOf(id);
      return at < 0 ? promptOrder.length : at;
    };
    const promptIds = [...firstRun.keys()]
      .filter((id) => counts.every((t) => byThreads.get(t)!.has(id)))
      .sort((a, b) => rank(a) - rank(b) || firstRun.get(a)! - firstRun.get(b)!);
    if (promptIds.length === 0) continue;
    const balanced = promptIds.length === firstRun.size &&
      promptIds.every((id) =>
        new Set(counts.map((t) => byThreads.get(t)!.get(id)!.length)).size === 1
      );
    const runsOf = counts.map((t) => promptIds.flatMap((id) => byThreads.get(t)!.get(id)!));
    const recommended = recommendThreads(
      counts.map((t, k) => ({
        threads: t,
        decodeTokens: runsOf[k]!.map((i) => output[i]! - 1),
        decodeMs: runsOf[k]!.map((i) => decodeMs[i]!),
      })),
      { tolerance },
    );
    const [batchSize, depthTokens] = JSON.parse(key) as [number, number];
    comparisons.push({
      depthTokens,
      batchSize,
      promptIds,
      balanced,
      rows: recommended.rows.map((row, k): ThreadsRow => {
        const indices = runsOf[k]!;
        const rates = indices.map((i) => (output[i]! - 1) / (decodeMs[i]! / 1000));
        const n = rates.length;
        const mean = rates.reduce((a, b) => a + b, 0) / n;
        const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
        return {
          threads: row.threads,
          runs: n,
          decodeTokens: indices.reduce((a, i) => a + output[i]! - 1, 0),
          decodeMs: indices.reduce((a, i) => a + decodeMs[i]!, 0),
          decodeTokensPerS: row.tokensPerS,
          runDecodeTokensPerSMedian: medianOrNull(rates)!,
          runDecodeTokensPerSMean: tEstimate(
            mean,
            sd / Math.sqrt(n),
            n - 1,
            "tokens/s",
            n < 2 ? "no interval: 1 run" : `t interval over ${n} runs`,
          ),
          fastestRatio: row.fastestRatio,
          tiesFastest: row.tiesFastest,
        };
      }),
      fastest: recommended.fastest,
      best: recommended.best,
      // Two or more counts here, so `next` and `ratio` are defined.
      next: recommended.next!,
      ratio: recommended.ratio!,
      tolerance,
    });
  }
  return comparisons;
}
