/**
 * The thread-count recommender shared by `probeThreads()` (short probe runs) and
 * `compareThreads()` (a session's measured runs): one rule, one tie tolerance.
 *
 * Rule: each thread count's decode rate is pooled over its runs (decode tokens / decode time,
 * stalls included: the mean rate over every decode token). The fastest count has the highest
 * pooled rate. Another count ties with it when the ratio fastest / count is below
 * 1 + `tolerance`, or when the 95% interval of that ratio reaches down to 1 (the runs cannot
 * tell them apart). The recommendation is the fewest threads among the ties: more threads
 * must be clearly and materially faster to be worth their cores, since fewer threads leave
 * cores to the rest of the machine and stall less (llama.cpp's threads meet at a spinning
 * barrier after every graph operation, so one descheduled thread stalls them all).
 *
 * @module
 */

import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import { LEVEL } from "../stats/stats.ts";
import type { Estimate } from "../analysis/types.ts";

/**
 * The default tie tolerance: a count within 2% of the fastest (by rate ratio) ties with it.
 *
 * @example Two percent
 * ```ts
 * import { THREADS_TOLERANCE } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(THREADS_TOLERANCE, 0.02);
 * ```
 */
export const THREADS_TOLERANCE = 0.02;

/** The decode runs of one thread count, for {@linkcode recommendThreads}. */
export interface ThreadsRuns {
  /** Compute threads. */
  readonly threads: number;
  /** Decode tokens of each run (output tokens − 1). */
  readonly decodeTokens: readonly number[];
  /** Decode time of each run, ms (first to last token, stalls included). */
  readonly decodeMs: readonly number[];
}

/** One thread count in a {@linkcode ThreadsRecommendation}. */
export interface RecommendedRow {
  /** Compute threads. */
  readonly threads: number;
  /** Pooled decode rate: Σ decode tokens / Σ decode time, tokens/s. */
  readonly tokensPerS: number;
  /**
   * The fastest count's pooled rate over this one's, with its 95% interval (method in the
   * estimate); exactly 1 for the fastest count itself.
   */
  readonly fastestRatio: Estimate;
  /** Whether this count ties with the fastest (true for the fastest itself). */
  readonly tiesFastest: boolean;
}

/** The result of {@linkcode recommendThreads}. */
export interface ThreadsRecommendation {
  /** One row per thread count, in the order given. */
  readonly rows: readonly RecommendedRow[];
  /** The thread count with the highest pooled decode rate. */
  readonly fastest: number;
  /** The recommended thread count: the fewest threads among those tying with the fastest. */
  readonly best: number;
  /** The fastest of the other counts; undefined with a single count. */
  readonly next: number | undefined;
  /**
   * Pooled rate of `best` over that of `next`, with its 95% interval; below 1 when a tie went
   * to fewer threads; undefined with a single count.
   */
  readonly ratio: Estimate | undefined;
  /** The tie tolerance used. */
  readonly tolerance: number;
}

/** Options of {@linkcode recommendThreads}. */
export interface RecommendThreadsOptions {
  /**
   * A count whose rate ratio fastest / count is below 1 + tolerance ties with the fastest.
   * @default {THREADS_TOLERANCE (0.02)}
   */
  tolerance?: number;
}

/** Decode tokens and seconds of the runs pooled for one thread count. */
interface Pool {
  readonly n: number;
  /** Pooled rate Σ tokens / Σ seconds. */
  readonly rate: number;
  /** Linearized variance of log(rate); NaN below 2 runs. */
  readonly logVariance: number;
}

function pool(tokens: readonly number[], ms: readonly number[]): Pool {
  const n = tokens.length;
  const seconds = ms.map((v) => v / 1000);
  const sumT = tokens.reduce((a, b) => a + b, 0);
  const sumD = seconds.reduce((a, b) => a + b, 0);
  const rate = sumT / sumD;
  const meanD = sumD / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += ((tokens[i]! - rate * seconds[i]!) / meanD) ** 2;
  const logVariance = n < 2 ? Number.NaN : ss / (n - 1) / n / rate ** 2;
  return { n, rate, logVariance };
}

const RATIO_UNIT = "ratio of pooled decode rates";

/** `a.rate / b.rate` with a Welch t interval on the log ratio (delta-method variances). */
function rateRatio(a: Pool, b: Pool): Estimate {
  const value = a.rate / b.rate;
  const ua = a.logVariance;
  const ub = b.logVariance;
  const variance = ua + ub;
  const n = `${a.n} and ${b.n} runs`;
  if (Number.isNaN(variance)) {
    return { value, low: NaN, high: NaN, unit: RATIO_UNIT, method: `no interval: ${n}` };
  }
  const df = variance ** 2 / (ua ** 2 / (a.n - 1) + ub ** 2 / (b.n - 1));
  const half = variance === 0 ? 0 : tQuantile(1 - (1 - LEVEL) / 2, df) * Math.sqrt(variance);
  return {
    value,
    low: value * Math.exp(-half),
    high: value * Math.exp(half),
    unit: RATIO_UNIT,
    method: `Welch t interval on the log ratio over ${n}, each pooled rate's variance by ` +
      "linearization over its runs (delta method)",
  };
}

/**
 * Recommends a thread count from decode runs at several counts, by the rule in this module's
 * documentation: the fewest threads whose pooled decode rate ties with the fastest's (ratio
 * below 1 + tolerance, or its 95% interval reaching 1). The interval is a Welch t interval on
 * the log ratio, each pooled rate's variance by linearization over its runs (delta method for
 * a ratio estimator); with a single run at a count there is no interval and only the
 * tolerance decides.
 *
 * @param counts The runs of each thread count (each with at least one run and decode time).
 * @param options The tie tolerance.
 * @returns Per-count rates and ratios, the fastest count and the recommendation.
 * @throws {RangeError} When there are no counts, a count has no runs or no decode time, a
 * count appears twice, or `tolerance` is not a number from 0 to below 1.
 *
 * @example Two threads are faster, but not clearly: the tie goes to one thread
 * ```ts
 * import { recommendThreads } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const clear = recommendThreads([
 *   { threads: 1, decodeTokens: [31, 31, 31], decodeMs: [1000, 1010, 990] },
 *   { threads: 2, decodeTokens: [31, 31, 31], decodeMs: [600, 610, 590] },
 * ]);
 * assert.equal(clear.best, 2);
 * const noisy = recommendThreads([
 *   { threads: 1, decodeTokens: [31, 31, 31], decodeMs: [1000, 1010, 990] },
 *   { threads: 2, decodeTokens: [31, 31, 31], decodeMs: [400, 1400, 900] },
 * ]);
 * assert.equal(noisy.fastest, 2);
 * assert.equal(noisy.best, 1); // the interval of the ratio reaches 1
 * assert.ok(noisy.rows[0]!.fastestRatio.low <= 1);
 * ```
 */
export function recommendThreads(
  counts: readonly ThreadsRuns[],
  options: RecommendThreadsOptions = {},
): ThreadsRecommendation {
  const { tolerance = THREADS_TOLERANCE } = options;
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new RangeError(
      `Cannot recommend threads: tolerance must be a number from 0 to below 1, found ${tolerance}`,
    );
  }
  if (counts.length === 0) throw new RangeError("Cannot recommend threads: no thread counts");
  const seen = new Set<number>();
  for (const c of counts) {
    if (seen.has(c.threads)) {
      throw new RangeError(`Cannot recommend threads: thread count ${c.threads} appears twice`);
    }
    seen.add(c.threads);
    const ms = c.decodeMs.reduce((a, b) => a + b, 0);
    if (c.decodeTokens.length === 0 || c.decodeTokens.length !== c.decodeMs.length || !(ms > 0)) {
      throw new RangeError(
        `Cannot recommend threads: thread count ${c.threads} needs runs with decode time, found ${c.decodeTokens.length} runs and ${ms} ms`,
      );
    }
  }
  const pools = counts.map((c) => pool(c.decodeTokens, c.decodeMs));
  let top = 0;
  pools.forEach((p, k) => {
    if (p.rate > pools[top]!.rate) top = k;
  });
  const ratios = pools.map((p, k): Estimate =>
    k === top
      ? { value: 1, low: 1, high: 1, unit: RATIO_UNIT, method: "the fastest itself" }
      : rateRatio(pools[top]!, p)
  );
  const ties = ratios.map((e) => e.value < 1 + tolerance || e.low <= 1);
  let bestAt = top;
  ties.forEach((tie, k) => {
    if (tie && counts[k]!.threads < counts[bestAt]!.threads) bestAt = k;
  });
  let nextAt = -1;
  pools.forEach((p, k) => {
    if (k !== bestAt && (nextAt < 0 || p.rate > pools[nextAt]!.rate)) nextAt = k;
  });
  return {
    rows: counts.map((c, k) => ({
      threads: c.threads,
      tokensPerS: pools[k]!.rate,
      fastestRatio: ratios[k]!,
      tiesFastest: ties[k]!,
    })),
    fastest: counts[top]!.threads,
    best: counts[bestAt]!.threads,
    next: nextAt < 0 ? undefined : counts[nextAt]!.threads,
    ratio: nextAt < 0 ? undefined : rateRatio(pools[bestAt]!, pools[nextAt]!),
    tolerance,
  };
}
