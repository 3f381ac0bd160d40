/**
 * Cluster-robust inference for a within-cluster (fixed-effects) slope with few clusters:
 * the CR2 (bias-reduced linearization) sandwich variance with the Bell-McCaffrey
 * Satterthwaite degrees of freedom, computed from per-cluster sums in O(clusters).
 *
 * @module
 */

/** A within-cluster slope with its CR2 standard error and Bell-McCaffrey degrees of freedom. */
export interface ClusterSlope {
  /** Least-squares slope `sum(wxy) / sum(wxx)` (NaN when `sum(wxx)` is 0). */
  readonly slope: number;
  /** CR2 cluster-robust standard error of the slope. */
  readonly se: number;
  /** Bell-McCaffrey (Satterthwaite) degrees of freedom of the t reference distribution. */
  readonly df: number;
  /** Clusters with `wxx > 0` (the others carry no information on the slope). */
  readonly clusters: number;
}

/**
 * Fits the slope of y on x with one intercept per cluster from per-cluster centred sums
 * (`wxx[i]` = sum over cluster i of (x - mean_i x)^2, `wxy[i]` = sum of (x - mean_i x) y) and
 * returns its CR2 standard error and Bell-McCaffrey degrees of freedom.
 *
 * CR2 adjusts each cluster's residuals by `(I - H_ii)^(-1/2)`, which for one regressor after
 * absorbing the intercepts multiplies cluster i's score `wxy[i] - b wxx[i]` by
 * `1 / sqrt(1 - h_i)` with leverage `h_i = wxx[i] / sum(wxx)`. The degrees of freedom are the
 * Satterthwaite approximation to the variance estimator's distribution under independent
 * homoskedastic errors; with equal leverages they are `clusters - 1`. Tokens within a cluster
 * may be correlated and heteroskedastic in any way; clusters must be independent.
 *
 * @param wxx Per-cluster centred sum of squares of x.
 * @param wxy Per-cluster centred cross-product of x and y.
 * @returns Slope, CR2 standard error, degrees of freedom and informative clusters.
 * @throws {RangeError} When the arrays differ in length.
 *
 * @example Three clusters with the same slope
 * ```ts
 * import { clusterSlope } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * // x = 0, 1, 2 in each cluster: wxx = 2; slopes 1.9, 2, 2.1 give wxy = 3.8, 4, 4.2
 * const fit = clusterSlope([2, 2, 2], [3.8, 4, 4.2]);
 * assert.ok(Math.abs(fit.slope - 2) < 1e-12);
 * assert.ok(Math.abs(fit.df - 2) < 1e-12);
 * assert.ok(fit.se > 0 && fit.se < 0.1);
 * ```
 */
export function clusterSlope(wxx: ArrayLike<number>, wxy: ArrayLike<number>): ClusterSlope {
  if (wxx.length !== wxy.length) {
    throw new RangeError(
      `Cannot fit a cluster slope: wxx and wxy must have one entry per cluster, found ${wxx.length} and ${wxy.length}`,
    );
  }
  let S = 0, Sxy = 0, clusters = 0;
  for (let i = 0; i < wxx.length; i++) {
    S += wxx[i]!;
    Sxy += wxy[i]!;
    if (wxx[i]! > 0) clusters++;
  }
  if (!(S > 0)) return { slope: Number.NaN, se: Number.NaN, df: Number.NaN, clusters };
  const b = Sxy / S;
  // meat, and the traces of Omega = diag(a) - u u' for the Satterthwaite df
  let meat = 0, sumA = 0, sumU2 = 0, sumA2 = 0, sumAU2 = 0;
  for (let i = 0; i < wxx.length; i++) {
    const w = wxx[i]!;
    if (!(w > 0)) continue;
    const h = w / S;
    const score = wxy[i]! - b * w;
    if (h >= 1) return { slope: b, se: Number.NaN, df: Number.NaN, clusters };
    meat += (score * score) / (1 - h);
    const a = h / (1 - h);
    const u2 = (h * h) / (1 - h);
    sumA += a;
    sumU2 += u2;
    sumA2 += a * a;
    sumAU2 += a * u2;
  }
  const trace = sumA - sumU2;
  const trace2 = sumA2 - 2 * sumAU2 + sumU2 * sumU2;
  return {
    slope: b,
    se: Math.sqrt(meat) / S,
    df: trace2 > 0 ? (trace * trace) / trace2 : Number.NaN,
    clusters,
  };
}
