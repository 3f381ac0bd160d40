/**
 * Ordinary least squares on small run-level designs (one row per run), with classical
 * standard errors for t intervals.
 *
 * @module
 */

import { fitCross } from "./linalg.ts";

/** An OLS fit with an intercept. */
export interface Ols {
  /** Coefficient of each column (NaN when a column is constant or collinear). */
  coef: Float64Array;
  /** Classical standard error of each coefficient. */
  se: Float64Array;
  /** Residual degrees of freedom. */
  df: number;
  /** Residual sum of squares. */
  rss: number;
  /** Total sum of squares about the mean. */
  tss: number;
}

/** Fits y = a + X b by least squares; rows are units (e.g. runs). */
export function ols(columns: readonly ArrayLike<number>[], y: ArrayLike<number>): Ols {
  const k = columns.length;
  const p = k + 2;
  const m = new Float64Array(p * p);
  const row = new Float64Array(p);
  for (let i = 0; i < y.length; i++) {
    row[0] = 1;
    for (let c = 0; c < k; c++) row[c + 1] = columns[c]![i]!;
    row[p - 1] = y[i]!;
    for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) m[a * p + b]! += row[a]! * row[b]!;
  }
  const fit = fitCross(m, p, Array.from({ length: k }, (_, c) => c + 1), p - 1, 0);
  const tss = fitCross(m, p, [], p - 1, 0).rss;
  const df = y.length - 1 - fit.rank;
  const sigma2 = df > 0 ? fit.rss / df : Number.NaN;
  return {
    coef: fit.coef,
    se: fit.inverseDiagonal.map((v) => Math.sqrt(sigma2 * v)),
    df,
    rss: fit.rss,
    tss,
  };
}
