/**
 * The stall rule, in one place: every stall count in tokentrace (the CLI summary,
 * `detectStalls()`, the fits that leave stalls out, the report and the notebooks) comes from
 * `flagStalls()`. `stalls.ts` re-exports it as the public definition.
 *
 * @module
 */

import { medianInPlace } from "../stats/stats.ts";

/** Scale that makes the MAD a consistent estimator of a normal standard deviation. */
export const MAD_SCALE = 1.4826;

/** Robust z-score above which a decode token is a stall (the default of every stall count). */
export const STALL_THRESHOLD = 5;

/** Options of `flagStalls()`. */
export interface FlagStallsOptions {
  /**
   * Robust z-score above which a token is a stall.
   *
   * @default {STALL_THRESHOLD}
   */
  threshold?: number;
  /**
   * Number of runs (run indices are `0 .. runs - 1`); by default one more than the largest
   * index given.
   *
   * @default {undefined}
   */
  runs?: number;
}

/** Stall flags of decode tokens under the stall rule (`flagStalls()`). */
export interface StallFlags {
  /** 1 for a stall, per decode token, in input order. */
  flags: Uint8Array;
  /** Median decode latency of each run, ms (0 for a run without tokens). */
  runMedian: Float64Array;
  /** Median of the deviations from run medians, ms. */
  centre: number;
  /** Median absolute deviation of those deviations, ms (unscaled). */
  mad: number;
  /** A token is a stall when its latency exceeds its run's median by more than this, ms. */
  thresholdMs: number;
  /** Number of stalls. */
  count: number;
}

/**
 * The stall rule. A decode token (token index 1 onwards) is a stall when its latency minus
 * its run's median decode latency exceeds `centre + threshold x 1.4826 x MAD`, where `centre`
 * and `MAD` are the median and the median absolute deviation of those deviations pooled over
 * every run given (warm-up runs included, so the threshold does not depend on which runs a
 * caller then counts). With the default threshold of 5, a stall is a token more than 5 robust
 * standard deviations slower than its run's median. Working from each run's median removes
 * run-level shifts (warm-up, depth, drift) first. When the MAD is 0, the mean absolute
 * deviation times sqrt(pi / 2) stands in for the robust sd; with no spread at all nothing is
 * a stall.
 *
 * @param latencyMs Decode latency of each token, ms.
 * @param run Run index of each token (integers from 0).
 * @param options Threshold and run count.
 * @returns Flags, run medians, the pooled centre and MAD, the threshold in ms and the count.
 * @throws {RangeError} When the arrays differ in length, the threshold is not positive or
 *   a run index is out of range.
 *
 * @example One slow token among steady ones
 * ```ts
 * import { flagStalls } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const latency = [20, 21, 19, 20, 22, 20, 80, 21, 19, 20];
 * const run = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
 * const s = flagStalls(latency, run);
 * assert.equal(s.count, 1);
 * assert.equal(s.flags[6], 1);
 * ```
 */
export function flagStalls(
  latencyMs: ArrayLike<number>,
  run: ArrayLike<number>,
  options: FlagStallsOptions = {},
): StallFlags {
  const { threshold = STALL_THRESHOLD, runs } = options;
  const count = latencyMs.length;
  if (run.length !== count) {
    throw new RangeError(
      `Cannot flag stalls: run must give one run index per latency, found ${run.length} for ${count} latencies`,
    );
  }
  if (!(threshold > 0)) {
    throw new RangeError(`Cannot flag stalls: threshold must be > 0, found ${threshold}`);
  }
  let R = runs ?? 0;
  if (runs === undefined) { for (let t = 0; t < count; t++) R = Math.max(R, run[t]! + 1); }
  const sizes = new Int32Array(R + 1);
  for (let t = 0; t < count; t++) {
    const i = run[t]!;
    if (!(Number.isInteger(i) && i >= 0 && i < R)) {
      throw new RangeError(
        `Cannot flag stalls: run indices must be integers from 0 to ${R - 1}, found ${i}`,
      );
    }
    sizes[i + 1]!++;
  }
  const start = new Int32Array(R + 1);
  for (let i = 0; i < R; i++) start[i + 1] = start[i]! + sizes[i + 1]!;
  const grouped = new Float64Array(count);
  const fill = start.slice(0, R);
  for (let t = 0; t < count; t++) grouped[fill[run[t]!]!++] = latencyMs[t]!;
  const runMedian = new Float64Array(R);
  for (let i = 0; i < R; i++) {
    if (start[i + 1]! > start[i]!) runMedian[i] = medianInPlace(grouped, start[i]!, start[i + 1]!);
  }
  const dev = grouped;
  for (let t = 0; t < count; t++) dev[t] = latencyMs[t]! - runMedian[run[t]!]!;
  const centre = count > 0 ? medianInPlace(dev) : Number.NaN;
  for (let t = 0; t < count; t++) dev[t] = Math.abs(dev[t]! - centre);
  const mad = count > 0 ? medianInPlace(dev) : Number.NaN;
  let spread = MAD_SCALE * mad;
  if (!(spread > 0)) {
    let sum = 0;
    for (let t = 0; t < count; t++) sum += dev[t]!;
    spread = count > 0 ? (sum / count) * Math.sqrt(Math.PI / 2) : 0;
  }
  const thresholdMs = spread > 0 ? centre + threshold * spread : Infinity;
  const flags = new Uint8Array(count);
  let n = 0;
  for (let t = 0; t < count; t++) {
    if (latencyMs[t]! - runMedian[run[t]!]! > thresholdMs) {
      flags[t] = 1;
      n++;
    }
  }
  return { flags, runMedian, centre, mad, thresholdMs, count: n };
}

/** The stall rule in words, for tables, reports and `detectStalls().rule`. */
export function stallRuleText(threshold: number = STALL_THRESHOLD): string {
  return `latency minus its run's median above the median of those deviations + ${threshold} x 1.4826 x their MAD (robust z > ${threshold}, pooled over all runs)`;
}
