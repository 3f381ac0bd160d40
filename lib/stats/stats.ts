/**
 * Small descriptive statistics on typed arrays: quantiles (R type 7), quickselect medians,
 * percentile and t intervals.
 *
 * Folder `lib/stats/`: numerics that know nothing of traces: linear algebra, OLS, the one seeded
 * `Rng` and its cluster bootstrap, quantiles, t and cluster-robust intervals. May import:
 * nothing else in lib/.
 *
 * @module
 */

import tQuantile from "@stdlib/stats-base-dists-t-quantile";

/** A point estimate with its 95% interval, its unit and the method that produced both. */
export interface Estimate {
  /** Point estimate. */
  readonly value: number;
  /** Lower end of the 95% interval. */
  readonly low: number;
  /** Upper end of the 95% interval. */
  readonly high: number;
  /** Unit of value and interval, e.g. `µs per context token`. */
  readonly unit: string;
  /** How the interval was computed, e.g. `percentile cluster bootstrap over 42 runs, 1000 resamples, seed 1`. */
  readonly method: string;
}

/** Level of every interval the analysis reports. */
export const LEVEL = 0.95;

/**
 * The p-quantile of ascending sorted values by linear interpolation between order statistics
 * (R type 7). Empty input gives NaN (no value to report), never a throw, so an empty group
 * shows as "n/a" in a table; callers that must refuse empty input check it first.
 */
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

/**
 * Median of `a[from..to)` (mean of the two middle values for even counts, which is
 * `quantileSorted(sorted, 0.5)` without sorting); reorders the slice. An empty slice gives
 * NaN, the same rule as {@linkcode quantileSorted}.
 */
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
export function studentizedMethod(
  runs: number,
  resamples: number,
  seed: number,
  standardErrors: string,
): string {
  return `studentized (bootstrap-t) cluster bootstrap over ${runs} runs, ${standardErrors} standard errors, ${resamples} resamples, seed ${seed}`;
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

/** Where an interval lies against a value or a range (see {@linkcode intervalSide}). */
export type IntervalSide = "above" | "below" | "within";

/**
 * Where an estimate's interval lies against `range` (a value, or `[low, high]`): `"above"`
 * when its low end is above the range, `"below"` when its high end is below it, otherwise
 * `"within"` (also when an end is NaN). Every verdict on an interval (a slope that rises or
 * falls, a claim overstated or understated) reads it from here.
 */
export function intervalSide(
  estimate: Pick<Estimate, "low" | "high">,
  range: number | readonly [number, number] = 0,
): IntervalSide {
  const [lo, hi] = typeof range === "number" ? [range, range] : range;
  if (estimate.high < lo) return "below";
  if (estimate.low > hi) return "above";
  return "within";
}

/** An estimate that could not be computed, with the reason as its method. */
export function missingEstimate(unit: string, reason: string): Estimate {
  return { value: Number.NaN, low: Number.NaN, high: Number.NaN, unit, method: reason };
}
