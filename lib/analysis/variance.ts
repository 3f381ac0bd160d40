/**
 * What explains the variance of per-token decode latency: a Shapley decomposition of R²
 * over groups of predictors (context position, run-level, prompt class, prompt length,
 * token content), plus the residual split into between-run and within-run parts.
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame } from "../schema/frame.ts";
import { fitCross, packedIndex, packedSize, unpack } from "../stats/linalg.ts";
import { resampleMatrix, Rng, weightedSums } from "../stats/rng.ts";
import { FULL_COLUMNS, fullRuns, type FullStats } from "./_runstats.ts";
import { bootstrapEstimate, bootstrapMethod } from "../stats/stats.ts";
import type { AnalysisInput, PreparedTrace } from "./prepare.ts";
import type { Estimate } from "./types.ts";

/** The predictor groups of the decomposition. */
export type VarianceGroupName =
  | "position"
  | "run"
  | "promptClass"
  | "promptLength"
  | "tokenContent";

/** Options of `decomposeVariance()`. */
export interface VarianceOptions {
  /**
   * Seed of the cluster bootstrap.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Bootstrap resamples (of runs, with replacement) for the intervals of the shares.
   *
   * @default {200}
   */
  resamples?: number;
  /**
   * Include warm-up runs (the run-level group has a warm-up indicator).
   *
   * @default {true}
   */
  includeWarmup?: boolean;
  /**
   * Leave out stalls (tokens flagged by `detectStalls()`'s default rule); by default the
   * decomposition explains the variance as measured, stalls included.
   *
   * @default {false}
   */
  excludeStalls?: boolean;
}

/** One group's Shapley share of the variance. */
export interface VarianceGroup {
  /** Group name. */
  readonly name: VarianceGroupName;
  /** What the group holds, in words. */
  readonly label: string;
  /** Predictor columns of the group that vary in the data (constant ones are left out). */
  readonly columns: readonly string[];
  /** Shapley share of R², as % of the total variance of decode latency. */
  readonly share: Estimate;
}

/** Result of `decomposeVariance()`. */
export interface VarianceResult {
  /** How the decomposition was done. */
  readonly method: string;
  /** Runs in the decomposition. */
  readonly runs: number;
  /** Decode tokens in the decomposition. */
  readonly tokens: number;
  /** Total variance of decode latency, ms². */
  readonly totalVarianceMs2: number;
  /** R² of all groups together, as %. */
  readonly explained: Estimate;
  /** One entry per group. */
  readonly groups: readonly VarianceGroup[];
  /** Unexplained variance, as % (100 - explained). */
  readonly residual: Estimate;
  /** Part of the residual that is a run-level shift (run means of residuals), as % of total variance. */
  readonly residualBetweenRunsPct: number;
  /** Part of the residual within runs, as % of total variance. */
  readonly residualWithinRunsPct: number;
  /** Columns `group`, `share_pct`, `low_pct`, `high_pct`, the residual last. */
  readonly table: Frame;
}

const LABELS: Record<VarianceGroupName, string> = {
  position: "context position",
  run: "run (warm-up, order, repetition, time in session, session)",
  promptClass: "prompt class",
  promptLength: "prompt length",
  tokenContent: "token content (bytes, character class, word-initial, id rank)",
};

/**
 * Decomposes the variance of per-token decode latency by Shapley values over R²: for each of
 * the five groups (context position; run: warm-up, order index, repetition, time in session
 * and session; prompt class; prompt length; token content: piece bytes, character class,
 * word-initial piece, token id rank) its average gain in R² over all 2^4 orders of adding the
 * other groups, from 32 least-squares fits of the pooled token-level model. The shares add up
 * to R²; the rest is residual, split into a between-run part (run means of the residuals) and
 * a within-run part. Intervals: percentile cluster bootstrap over runs.
 *
 * @param input A trace or a prepared trace.
 * @param options Seed, resamples and warm-up handling.
 * @returns Shares per group with intervals and a table.
 * @throws {RangeError} When no run has decode tokens.
 *
 * @example Token content explains nothing in a simulated trace
 * ```ts
 * import { decomposeVariance, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const v = decomposeVariance(simulateTrace({ depths: [0, 1000], slopeUsPerToken: 20 }), { resamples: 50 });
 * const share = (name: string) => v.groups.find((g) => g.name === name)!.share.value;
 * assert.ok(share("position") > 50);
 * assert.ok(share("tokenContent") < 2);
 * ```
 */
export function decomposeVariance(
  input: AnalysisInput,
  options: VarianceOptions = {},
): VarianceResult {
  const { seed = 1, resamples = 200, includeWarmup = true, excludeStalls = false } = options;
  const { prep, stats, units } = fullRuns(input, {
    includeWarmup,
    excludeStalls,
    require: { action: "Cannot decompose the variance" },
  });
  const design = runDesign(prep);
  const P = 10 + design.names.length + 1;
  const groupCols: Record<VarianceGroupName, number[]> = {
    position: [1],
    tokenContent: [2, 3, 4, 5, 6, 7, 8, 9],
    run: [],
    promptClass: [],
    promptLength: [],
  };
  design.groups.forEach((g, c) => groupCols[g].push(10 + c));
  const names: VarianceGroupName[] = [
    "position",
    "run",
    "promptClass",
    "promptLength",
    "tokenContent",
  ];
  const k = names.length;
  const weightsOf = shapleyWeights(k);

  const shares = (m: Float64Array): Float64Array => {
    const tss = fitCross(m, P, [], P - 1, 0).rss;
    const r2 = new Float64Array(1 << k);
    for (let mask = 1; mask < 1 << k; mask++) {
      const cols: number[] = [];
      names.forEach((g, j) => {
        if (mask & (1 << j)) cols.push(...groupCols[g]);
      });
      r2[mask] = cols.length === 0 ? 0 : 1 - fitCross(m, P, cols, P - 1, 0).rss / tss;
    }
    const out = new Float64Array(k + 1);
    for (let j = 0; j < k; j++) {
      let phi = 0;
      for (let mask = 0; mask < 1 << k; mask++) {
        if (mask & (1 << j)) continue;
        phi += weightsOf[popcount(mask)]! * (r2[mask | (1 << j)]! - r2[mask]!);
      }
      out[j] = phi * 100;
    }
    out[k] = r2[(1 << k) - 1]! * 100;
    return out;
  };

  // X'X for the point estimate and every resample at once (each run's cross-products once)
  const U = units.length;
  const matrix = resampleMatrix(new Rng(seed), U, resamples);
  const Q = packedSize(P);
  const sums = weightedSums(U, Q, matrix, resamples, runCross(stats, design, units));
  const m = unpack(sums, P, 0);
  const point = shares(m);
  const reps = Array.from({ length: k + 1 }, () => new Float64Array(resamples));
  for (let r = 0; r < resamples; r++) {
    const one = shares(unpack(sums, P, (r + 1) * Q));
    for (let j = 0; j <= k; j++) reps[j]![r] = one[j]!;
  }
  const boot = bootstrapMethod(units.length, resamples, seed);
  const unit = "% of variance";
  const groups: VarianceGroup[] = names.map((name, j) => ({
    name,
    label: LABELS[name],
    columns: groupCols[name]
      .filter((c) => varies(m, P, c))
      .map((c) => (c < 10 ? FULL_COLUMNS[c]! : design.names[c - 10]!)),
    share: bootstrapEstimate(point[j]!, reps[j]!, unit, boot),
  }));
  const explained = bootstrapEstimate(point[k]!, reps[k]!, unit, boot);
  const residual: Estimate = {
    value: 100 - explained.value,
    low: 100 - explained.high,
    high: 100 - explained.low,
    unit,
    method: boot,
  };

  // residual split: run means of the full model's residuals
  const all = names.flatMap((g) => groupCols[g]);
  const full = fitCross(m, P, all, P - 1, 0);
  const tss = fitCross(m, P, [], P - 1, 0).rss;
  const nTok = m[0]!;
  const beta = new Float64Array(P);
  all.forEach((c, j) => (beta[c] = Number.isFinite(full.coef[j]!) ? full.coef[j]! : 0));
  let alpha = m[P - 1]! / nTok;
  for (let c = 1; c < P - 1; c++) alpha -= (beta[c]! * m[c]!) / nTok;
  let between = 0;
  const { q, packed } = stats;
  for (const i of units) {
    const base = i * q;
    const n = packed[base]!;
    let rbar = packed[base + 10]! / n - alpha;
    for (let c = 1; c < 10; c++) rbar -= (beta[c]! * packed[base + c]!) / n;
    for (let c = 0; c < design.names.length; c++) {
      rbar -= beta[10 + c]! * design.z[i * design.names.length + c]!;
    }
    between += n * rbar * rbar;
  }
  const betweenPct = (between / tss) * 100;
  const method = `Shapley decomposition of R² over ${k} predictor groups (${
    1 << k
  } least-squares fits of decode latency on the pooled token-level design); intervals: ${boot}`;
  const rows = [...groups.map((g) => [g.name, g.share] as const), ["residual", residual] as const];
  return {
    method,
    runs: units.length,
    tokens: nTok,
    totalVarianceMs2: tss / Math.max(1, nTok - 1),
    explained,
    groups,
    residual,
    residualBetweenRunsPct: betweenPct,
    residualWithinRunsPct: residual.value - betweenPct,
    table: pl.DataFrame({
      group: rows.map(([g]) => g),
      share_pct: pl.Series("share_pct", rows.map(([, e]) => e.value), pl.Float64),
      low_pct: pl.Series("low_pct", rows.map(([, e]) => e.low), pl.Float64),
      high_pct: pl.Series("high_pct", rows.map(([, e]) => e.high), pl.Float64),
    }),
  };
}

interface RunDesign {
  names: string[];
  groups: VarianceGroupName[];
  /** runs x names.length, row-major. */
  z: Float64Array;
}

function runDesign(prep: PreparedTrace): RunDesign {
  const names: string[] = [];
  const groups: VarianceGroupName[] = [];
  const cols: ((i: number) => number)[] = [];
  const add = (name: string, group: VarianceGroupName, f: (i: number) => number): void => {
    names.push(name);
    groups.push(group);
    cols.push(f);
  };
  const r = prep.runs;
  add("warmup", "run", (i) => r.warmup[i]!);
  add("order_index", "run", (i) => r.orderIndex[i]!);
  add("repetition", "run", (i) => r.repetition[i]!);
  add("started_at_min", "run", (i) => r.startedAtMs[i]! / 60000);
  for (let s = 1; s < prep.sessions.count; s++) {
    add(`session=${prep.sessions.sessionId[s]}`, "run", (i) => (r.session[i] === s ? 1 : 0));
  }
  for (let c = 1; c < prep.classes.length; c++) {
    add(`prompt_class=${prep.classes[c]}`, "promptClass", (i) => (r.promptClass[i] === c ? 1 : 0));
  }
  add("prompt_tokens", "promptLength", (i) => r.promptTokens[i]!);
  const z = new Float64Array(r.count * names.length);
  for (let i = 0; i < r.count; i++) cols.forEach((f, c) => (z[i * names.length + c] = f(i)));
  return { names, groups, z };
}

/**
 * Writer of one run's packed cross-products over [token columns except latency, run columns,
 * latency]: token x token from the run's sums, token x run as token sums times the run's
 * values, run x run as the token count times the run's values.
 */
function runCross(
  stats: FullStats,
  design: RunDesign,
  units: Int32Array,
): (u: number, out: Float64Array) => void {
  const { p, q, packed } = stats;
  const r = design.names.length;
  const P = 10 + r + 1;
  const map = (a: number): number => (a === p - 1 ? P - 1 : a);
  const tt = new Int32Array(q);
  let idx = 0;
  for (let a = 0; a < p; a++) {
    for (let b = a; b < p; b++, idx++) tt[idx] = packedIndex(map(a), map(b), P);
  }
  const tr = Int32Array.from(
    { length: p * r },
    (_, j) => packedIndex(map(Math.floor(j / r)), 10 + (j % r), P),
  );
  const rr = Int32Array.from(
    { length: r * r },
    (_, j) => packedIndex(10 + Math.floor(j / r), 10 + (j % r), P),
  );
  const { z } = design;
  return (u, out) => {
    const i = units[u]!;
    const base = i * q;
    for (let j = 0; j < q; j++) out[tt[j]!] = packed[base + j]!;
    const zb = i * r;
    for (let a = 0; a < p; a++) {
      const sa = packed[base + a]!;
      for (let c = 0; c < r; c++) out[tr[a * r + c]!] = sa * z[zb + c]!;
    }
    const n = packed[base]!;
    for (let c = 0; c < r; c++) {
      const zc = n * z[zb + c]!;
      for (let d = c; d < r; d++) out[rr[c * r + d]!] = zc * z[zb + d]!;
    }
  };
}

function varies(m: Float64Array, P: number, c: number): boolean {
  const n = m[0]!;
  const ss = m[c * P + c]! - (m[c]! * m[c]!) / n;
  return ss > 1e-9 * Math.max(1, m[c * P + c]!);
}

function shapleyWeights(k: number): Float64Array {
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  return Float64Array.from({ length: k }, (_, s) => (fact(s) * fact(k - s - 1)) / fact(k));
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}
