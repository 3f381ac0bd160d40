/**
 * The estimate and verdict of one metric: per-cell means of log values on each side, the
 * mean log ratio over shared cells with a Welch t interval mapped back to a ratio, the
 * smallest detectable change, and the verdict against the no-change band.
 *
 * @module
 */

import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";
import type { Estimate } from "../analysis/types.ts";
import { LEVEL } from "../stats/stats.ts";
import type { Side } from "./_sides.ts";
import {
  type CompareMetric,
  type CompareVerdict,
  METRIC_INFO,
  type MetricComparison,
} from "./types.ts";

/** Per-cell mean and sum of squares of finite log values of one side. */
export function cellStats(
  side: Side,
  m: CompareMetric,
  shared: readonly string[],
): { mean: Float64Array; n: Float64Array; ss: number; df: number; runs: number } {
  const pos = new Map(shared.map((k, j) => [k, j]));
  const C = shared.length;
  const sum = new Float64Array(C), n = new Float64Array(C);
  const values = side.logs[m];
  for (let i = 0; i < values.length; i++) {
    const j = pos.get(side.cell[i]!);
    const v = values[i]!;
    if (j === undefined || !Number.isFinite(v)) continue;
    sum[j]! += v;
    n[j]!++;
  }
  const mean = sum.map((s, j) => s / n[j]!);
  let ss = 0, df = 0, runs = 0;
  for (let i = 0; i < values.length; i++) {
    const j = pos.get(side.cell[i]!);
    const v = values[i]!;
    if (j === undefined || !Number.isFinite(v)) continue;
    ss += (v - mean[j]!) ** 2;
  }
  for (let j = 0; j < C; j++) {
    runs += n[j]!;
    if (n[j]! > 0) df += n[j]! - 1;
  }
  return { mean, n, ss, df, runs };
}

export function compareMetric(
  m: CompareMetric,
  b: Side,
  c: Side,
  shared: readonly string[],
  thresholdPct: number,
  sameRuns: boolean,
): MetricComparison {
  const info = METRIC_INFO[m];
  const sb = cellStats(b, m, shared);
  const sc = cellStats(c, m, shared);
  // cells where both sides have a value
  const used: number[] = [];
  for (let j = 0; j < shared.length; j++) if (sb.n[j]! > 0 && sc.n[j]! > 0) used.push(j);
  const C = used.length;
  let d = 0, lb = 0, lc = 0, invB = 0, invC = 0, runsB = 0, runsC = 0;
  for (const j of used) {
    d += sc.mean[j]! - sb.mean[j]!;
    lb += sb.mean[j]!;
    lc += sc.mean[j]!;
    invB += 1 / sb.n[j]!;
    invC += 1 / sc.n[j]!;
    runsB += sb.n[j]!;
    runsC += sc.n[j]!;
  }
  d /= C;
  const base = {
    metric: m,
    label: info.label,
    unit: info.unit,
    higherIsFaster: info.higherIsFaster,
    baseline: Math.exp(lb / C),
    candidate: Math.exp(lc / C),
    baselineRuns: runsB,
    candidateRuns: runsC,
  };
  const unit = "candidate / baseline";
  if (C === 0) {
    return {
      ...base,
      baseline: Number.NaN,
      candidate: Number.NaN,
      ratio: {
        value: Number.NaN,
        low: Number.NaN,
        high: Number.NaN,
        unit,
        method: "no shared cell has this metric on both sides",
      },
      verdict: "inconclusive",
      detectablePct: Number.NaN,
    };
  }
  if (sameRuns) {
    return {
      ...base,
      ratio: {
        value: 1,
        low: 1,
        high: 1,
        unit,
        method: `the two sides are the same ${runsB} runs: the ratio is exactly 1`,
      },
      verdict: "no change",
      detectablePct: Number.NaN,
    };
  }
  // pooled within-cell variance of log values per side (cells matched above)
  const varB = sb.df > 0 ? sb.ss / sb.df : Number.NaN;
  const varC = sc.df > 0 ? sc.ss / sc.df : Number.NaN;
  const vB = (varB * invB) / (C * C);
  const vC = (varC * invC) / (C * C);
  const se = Math.sqrt(vB + vC);
  const df = (vB + vC) ** 2 / (vB ** 2 / sb.df + vC ** 2 / sc.df);
  const method =
    `Welch t interval on the mean log ratio over ${C} shared cells (${runsB} + ${runsC} runs as units, one value per run; within-cell variance of log values pooled per side; Satterthwaite df ${
      Number.isFinite(df) ? df.toFixed(1) : "n/a"
    })`;
  if (!(se >= 0) || !Number.isFinite(df) || df <= 0) {
    return {
      ...base,
      ratio: {
        value: Math.exp(d),
        low: Number.NaN,
        high: Number.NaN,
        unit,
        method: `${method}: no interval, a side has no cell with 2 runs`,
      },
      verdict: "inconclusive",
      detectablePct: Number.NaN,
    };
  }
  const q = tQuantile(1 - (1 - LEVEL) / 2, df);
  const ratio: Estimate = {
    value: Math.exp(d),
    low: Math.exp(d - q * se),
    high: Math.exp(d + q * se),
    unit,
    method,
  };
  const t = thresholdPct / 100;
  const detectablePct = (Math.exp(Math.log(1 + t) + (q + normalQuantile(0.8, 0, 1)) * se) - 1) *
    100;
  return { ...base, ratio, verdict: verdictOf(ratio, t, info.higherIsFaster), detectablePct };
}

/** Verdict of a ratio interval against the band [1 - t, 1 + t]. */
export function verdictOf(ratio: Estimate, t: number, higherIsFaster: boolean): CompareVerdict {
  if (ratio.low >= 1 - t && ratio.high <= 1 + t) return "no change";
  if (ratio.low > 1 + t) return higherIsFaster ? "faster" : "slower";
  if (ratio.high < 1 - t) return higherIsFaster ? "slower" : "faster";
  return "inconclusive";
}
