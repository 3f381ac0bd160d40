/**
 * Small descriptive statistics on typed arrays: quantiles (R type 7), quickselect medians,
 * percentile and t intervals.
 *
 * @module
 */

import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import type { Estimate } from "../analysis/types.ts";

/** Level of every interval the analysis reports. */
export const LEVEL = 0.95;

/** Quantile of sorted values by linear interpolation (R type 7). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** k-th smallest value (0-based) of `a[from..to)`, reordering that slice in place. */
export function selectInPlace(a: Float64Array, k: number, from = 0, to = a.length): number {
  let lo = from;
  let hi = to - 1;
  const target = from + k;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of three as pivot
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/** Median of `a[from..to)` (mean of the two middle values for even counts); reorders the slice. */
export function medianInPlace(a: Float64Array, from = 0, to = a.length): number {
  const n = to - from;
  if (n === 0) return Number.NaN;
  const upper = selectInPlace(a, n >> 1, from, to);
  if (n % 2 === 1) return upper;
  let lower = -Infinity;
  for (let i = from; i < from + (n >> 1); i++) if (a[i]! > lower) lower = a[i]!;
  return (lower + upper) / 2;
}

/** Percentile interval (R type 7 quantiles) of bootstrap replicates; NaN replicates are dropped. */
export function percentileInterval(replicates: Float64Array): [number, number] {
  const finite = replicates.filter((v) => Number.isFinite(v)).sort();
  const alpha = (1 - LEVEL) / 2;
  return [quantileSorted(finite, alpha), quantileSorted(finite, 1 - alpha)];
}

/** Builds an estimate whose interval is the percentile interval of bootstrap replicates. */
export function bootstrapEstimate(
  value: number,
  replicates: Float64Array,
  unit: string,
  method: string,
): Estimate {
  const [low, high] = percentileInterval(replicates);
  return { value, low, high, unit, method };
}

/**
 * Builds an estimate with a studentized (bootstrap-t) interval: `value - q(1 - a/2) * se` to
 * `value - q(a/2) * se`, with q the R type 7 quantiles of the replicates' t statistics
 * `(value* - value) / se*`; NaN replicates are dropped.
 */
export function studentizedEstimate(
  value: number,
  se: number,
  tReplicates: Float64Array,
  unit: string,
  method: string,
): Estimate {
  const [lo, hi] = percentileInterval(tReplicates);
  return { value, low: value - hi * se, high: value - lo * se, unit, method };
}

/** Method text of a studentized (bootstrap-t) cluster bootstrap over runs. */
export function studentizedMethod(runs: number, resamples: number, seed: number): string {
  return `studentized (bootstrap-t) cluster bootstrap over ${runs} runs, classical standard errors, ${resamples} resamples, seed ${seed}`;
}

/** Builds an estimate with a t interval `value ± t(df) * se`. */
export function tEstimate(
  value: number,
  se: number,
  df: number,
  unit: string,
  method: string,
): Estimate {
  const half = df > 0 && Number.isFinite(se) ? tQuantile(1 - (1 - LEVEL) / 2, df) * se : Number.NaN;
  return { value, low: value - half, high: value + half, unit, method };
}

/** Method text of a percentile cluster bootstrap over runs. */
export function bootstrapMethod(runs: number, resamples: number, seed: number): string {
  return `percentile cluster bootstrap over ${runs} runs, ${resamples} resamples, seed ${seed}`;
}

/** An estimate that could not be computed, with the reason as its method. */
export function missingEstimate(unit: string, reason: string): Estimate {
  return { value: Number.NaN, low: Number.NaN, high: Number.NaN, unit, method: reason };
}
