/**
 * Stalls, warm-up and drift: robust outlier detection on per-token decode latency, the
 * first-run-vs-rest effect, and the trend of per-run latency over time in the session.
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame } from "../schema/frame.ts";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import { ols } from "../stats/ols.ts";
import { clusterBootstrap, Rng, weightedTotals } from "../stats/rng.ts";
import { decodeRuns, slopeRuns, slopeStats, stallFlags } from "./_runstats.ts";
import {
  bootstrapEstimate,
  bootstrapMethod,
  medianInPlace,
  missingEstimate,
  tEstimate,
} from "../stats/stats.ts";
import type { AnalysisInput, PreparedTrace } from "./prepare.ts";
import type { Estimate } from "./types.ts";
import { STALL_THRESHOLD, stallRuleText } from "./_stall_rule.ts";

export {
  flagStalls,
  type FlagStallsOptions,
  MAD_SCALE,
  STALL_THRESHOLD,
  type StallFlags,
} from "./_stall_rule.ts";

/** Options of `detectStalls()`. */
export interface StallOptions {
  /**
   * Robust z-score above which a token is a stall (`STALL_THRESHOLD`; see `flagStalls()`).
   *
   * @default {5}
   */
  threshold?: number;
  /**
   * Count stalls in warm-up runs too. By default only measured runs are counted, as in the
   * CLI summary's stall column (the threshold itself always pools every run).
   *
   * @default {false}
   */
  includeWarmup?: boolean;
  /**
   * Seed of the cluster bootstrap.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Bootstrap resamples (of runs).
   *
   * @default {1000}
   */
  resamples?: number;
}

/** Result of `detectStalls()`. */
export interface StallResult {
  /** The rule that flags a stall (`flagStalls()`), in words. */
  readonly rule: string;
  /** Robust z-score above which a token is a stall (the `threshold` option). */
  readonly threshold: number;
  /** Decode tokens examined. */
  readonly tokens: number;
  /** Runs examined. */
  readonly runs: number;
  /** Tokens flagged as stalls. */
  readonly stalls: number;
  /** Median absolute deviation of latency from its run's median, ms (unscaled). */
  readonly madMs: number;
  /** A token is a stall when its latency exceeds its run's median by more than this, ms. */
  readonly thresholdMs: number;
  /** Stalls per 1000 decode tokens. */
  readonly ratePer1000: Estimate;
  /** Share of decode time that is stall excess (latency above the run median), %. */
  readonly excessTimePct: Estimate;
  /** Largest stall latency, ms (NaN without stalls). */
  readonly maxStallMs: number;
  /** Columns `token_index`, `tokens`, `stalls`, `rate_per_1000`. */
  readonly byTokenIndex: Frame;
  /**
   * One row per run in session order: `session_id`, `order_index`, `run_id`, `warmup`,
   * `tokens`, `stalls`, `excess_ms`.
   */
  readonly byRun: Frame;
}

/**
 * Counts stalls under the stall rule (`flagStalls()`: latency minus the run's median more than
 * `threshold` robust standard deviations, 1.4826 x MAD, above the median deviation, pooled
 * over every run), in measured runs unless `includeWarmup`. The CLI summary's stall column
 * counts the same tokens. Reports counts, rate and time share with percentile cluster
 * bootstrap intervals over runs, and where stalls fall by token index and by run.
 *
 * @param input A trace or a prepared trace.
 * @param options Threshold, warm-up handling, seed and resamples.
 * @returns Counts, rates and tables.
 * @throws {RangeError} When no run has decode tokens or the threshold is not positive.
 *
 * @example Find injected stalls
 * ```ts
 * import { detectStalls, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const s = detectStalls(simulateTrace({ stallProbability: 0.02, repetitions: 10 }), { resamples: 200 });
 * assert.ok(s.ratePer1000.low < 20 && 20 < s.ratePer1000.high);
 * ```
 */
export function detectStalls(input: AnalysisInput, options: StallOptions = {}): StallResult {
  const { threshold = STALL_THRESHOLD, includeWarmup = false, seed = 1, resamples = 1000 } =
    options;
  if (!(threshold > 0)) {
    throw new RangeError(`Cannot detect stalls: threshold must be > 0, found ${threshold}`);
  }
  const { prep, units } = decodeRuns(input, {
    includeWarmup,
    require: { action: "Cannot detect stalls" },
  });
  const R = prep.runs.count;
  const { run, latencyMs, tokenIndex, count } = prep.tokens;
  const inFit = new Uint8Array(R);
  for (const i of units) inFit[i] = 1;
  const { flags, runMedian: median, mad, thresholdMs } = stallFlags(prep, threshold);
  let total = 0;
  for (const i of units) total += prep.runs.decodeTokens[i]!;
  const stalls = new Float64Array(R);
  const excess = new Float64Array(R);
  const time = new Float64Array(R);
  let maxIndex = 0;
  for (let t = 0; t < count; t++) if (tokenIndex[t]! > maxIndex) maxIndex = tokenIndex[t]!;
  const idxTokens = new Float64Array(maxIndex + 1);
  const idxStalls = new Float64Array(maxIndex + 1);
  let maxStall = Number.NaN;
  for (let t = 0; t < count; t++) {
    const i = run[t]!;
    if (!inFit[i]) continue;
    const y = latencyMs[t]!;
    time[i]! += y;
    idxTokens[tokenIndex[t]!]!++;
    if (flags[t] === 1) {
      stalls[i]!++;
      excess[i]! += y - median[i]!;
      idxStalls[tokenIndex[t]!]!++;
      if (!(y <= maxStall)) maxStall = y;
    }
  }
  const U = units.length;
  const uStalls = Float64Array.from(units, (i) => stalls[i]!);
  const uTokens = Float64Array.from(units, (i) => prep.runs.decodeTokens[i]!);
  const uExcess = Float64Array.from(units, (i) => excess[i]!);
  const uTime = Float64Array.from(units, (i) => time[i]!);
  const summary = (w: Float64Array | null): [number, number] => {
    const [s, n, e, tt] = weightedTotals([uStalls, uTokens, uExcess, uTime], w);
    return [(s! / n!) * 1000, (e! / tt!) * 100];
  };
  const [rate, share] = summary(null);
  const reps = clusterBootstrap(
    new Rng(seed),
    { units: U, resamples, width: 2 },
    summary,
  );
  const boot = bootstrapMethod(units.length, resamples, seed);
  let nStalls = 0;
  for (const i of units) nStalls += stalls[i]!;
  const idx: number[] = [];
  for (let j = 0; j <= maxIndex; j++) if (idxTokens[j]! > 0) idx.push(j);
  const runList = Array.from(units);
  return {
    rule: stallRuleText(threshold),
    threshold,
    tokens: total,
    runs: units.length,
    stalls: nStalls,
    madMs: mad,
    thresholdMs,
    ratePer1000: bootstrapEstimate(rate, reps[0]!, "stalls per 1000 tokens", boot),
    excessTimePct: bootstrapEstimate(share, reps[1]!, "% of decode time", boot),
    maxStallMs: maxStall,
    byTokenIndex: pl.DataFrame({
      token_index: pl.Series("token_index", idx, pl.Int32),
      tokens: pl.Series("tokens", idx.map((j) => idxTokens[j]!), pl.Int32),
      stalls: pl.Series("stalls", idx.map((j) => idxStalls[j]!), pl.Int32),
      rate_per_1000: pl.Series(
        "rate_per_1000",
        idx.map((j) => (idxStalls[j]! / idxTokens[j]!) * 1000),
        pl.Float64,
      ),
    }),
    byRun: pl.DataFrame({
      session_id: runList.map((i) => prep.sessions.sessionId[prep.runs.session[i]!]!),
      order_index: pl.Series("order_index", runList.map((i) => prep.runs.orderIndex[i]!), pl.Int32),
      run_id: runList.map((i) => prep.runs.runId[i]!),
      warmup: pl.Series("warmup", runList.map((i) => prep.runs.warmup[i] === 1), pl.Bool),
      tokens: pl.Series("tokens", runList.map((i) => prep.runs.decodeTokens[i]!), pl.Int32),
      stalls: pl.Series("stalls", runList.map((i) => stalls[i]!), pl.Int32),
      excess_ms: pl.Series("excess_ms", runList.map((i) => excess[i]!), pl.Float64),
    }),
  };
}

/** Options of `warmupEffect()`. */
export interface WarmupOptions {
  /**
   * Leave stalls (tokens flagged by `detectStalls()`'s default rule) out of the run means.
   *
   * @default {true}
   */
  excludeStalls?: boolean;
}

/** Result of `warmupEffect()`. */
export interface WarmupResult {
  /** Which runs count as warm-up: flagged warm-up runs, or (when none is flagged) each session's first run. */
  readonly group: "flagged warm-up runs" | "first run of each session";
  /** Warm-up runs compared. */
  readonly warmupRuns: number;
  /** Other runs compared against. */
  readonly otherRuns: number;
  /** Which other runs: those with the warm-up runs' prompt and depth, or all. */
  readonly comparison: string;
  /** Mean adjusted decode latency of the warm-up runs, ms. */
  readonly warmupMeanMs: number;
  /** Mean adjusted decode latency of the other runs, ms. */
  readonly otherMeanMs: number;
  /** Warm-up minus other runs. */
  readonly effectMs: Estimate;
  /** The effect as % of the other runs' mean (interval scaled the same way). */
  readonly effectPct: Estimate;
  /** Two-sided p-value of the two-sample t test. */
  readonly pValue: number;
}

/**
 * Measures the warm-up effect: mean decode latency of warm-up runs (the runs flagged
 * `warmup`, or each session's first run when none is flagged) minus that of the other runs,
 * each run's mean adjusted to a common context position with the within-run slope. Compares
 * with the other runs of the same prompt and depth when there are any. Interval and p-value:
 * two-sample t with pooled variance, runs as units (it works with a single warm-up run).
 *
 * @param input A trace or a prepared trace.
 * @param options Stall handling.
 * @returns The effect with its interval.
 * @throws {RangeError} When there is no warm-up run or no other run with decode tokens.
 *
 * @example Find an injected warm-up penalty
 * ```ts
 * import { simulateTrace, warmupEffect } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const w = warmupEffect(simulateTrace({ warmupPenaltyMs: 3 }));
 * assert.ok(w.effectMs.low < 3 && 3 < w.effectMs.high);
 * assert.ok(w.pValue < 0.05);
 * ```
 */
export function warmupEffect(input: AnalysisInput, options: WarmupOptions = {}): WarmupResult {
  const { excludeStalls = true } = options;
  const { prep, units } = slopeRuns(input, { includeWarmup: true, excludeStalls });
  const r = prep.runs;
  const flagged = Array.from(units).filter((i) => r.warmup[i] === 1);
  const group = flagged.length > 0 ? "flagged warm-up runs" : "first run of each session";
  const warm = flagged.length > 0 ? flagged : firstRuns(prep, units);
  const isWarm = new Set(warm);
  const rest = Array.from(units).filter((i) => !isWarm.has(i));
  if (warm.length === 0 || rest.length === 0) {
    throw new RangeError(
      `Cannot measure the warm-up effect: the trace must have warm-up and other runs with decode tokens, found ${warm.length} and ${rest.length}`,
    );
  }
  const keyOf = (i: number): string => `${r.promptId[i]}|${r.depthTokens[i]}`;
  const warmKeys = new Set(warm.map(keyOf));
  const matched = rest.filter((i) => warmKeys.has(keyOf(i)));
  const others = matched.length >= 2 ? matched : rest;
  const comparison = matched.length >= 2
    ? "other runs of the same prompt and depth"
    : "all other runs";
  const y = adjustedMeans(prep, Array.from(units), excludeStalls);
  const mean = (list: number[]): number => list.reduce((s, i) => s + y[i]!, 0) / list.length;
  const mw = mean(warm), mo = mean(others);
  let ss = 0;
  for (const i of warm) ss += (y[i]! - mw) ** 2;
  for (const i of others) ss += (y[i]! - mo) ** 2;
  const df = warm.length + others.length - 2;
  const se = Math.sqrt((ss / df) * (1 / warm.length + 1 / others.length));
  const method = `two-sample t interval with pooled variance on per-run mean decode latency${
    excludeStalls ? " without stalls" : ""
  } (${warm.length} vs ${others.length} runs)`;
  const effect = df > 0
    ? tEstimate(mw - mo, se, df, "ms", method)
    : missingEstimate("ms", "too few runs for a t interval");
  const tStat = (mw - mo) / se;
  return {
    group,
    warmupRuns: warm.length,
    otherRuns: others.length,
    comparison,
    warmupMeanMs: mw,
    otherMeanMs: mo,
    effectMs: effect,
    effectPct: {
      value: (effect.value / mo) * 100,
      low: (effect.low / mo) * 100,
      high: (effect.high / mo) * 100,
      unit: "% of the other runs' mean",
      method,
    },
    pValue: df > 0 ? 2 * (1 - tCdf(Math.abs(tStat), df)) : Number.NaN,
  };
}

/** Options of `sessionDrift()`. */
export interface DriftOptions {
  /**
   * Include warm-up runs.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
}

/** Result of `sessionDrift()`. */
export interface DriftResult {
  /** Runs in the fit. */
  readonly runs: number;
  /** Sessions in the fit. */
  readonly sessions: number;
  /** Trend of per-run median decode latency with time in the session. */
  readonly slopeUsPerMinute: Estimate;
  /** Longest session span covered, minutes. */
  readonly spanMinutes: number;
  /**
   * One row per run in session order: `session_id`, `order_index`, `run_id`, `warmup`,
   * `started_at_ms`, `median_latency_ms`, `mean_latency_ms`.
   */
  readonly timeline: Frame;
}

/**
 * Fits the trend of each run's median decode latency against its start time in the session
 * (least squares with one intercept per session, runs as units, t interval), and returns the
 * run timeline for plots.
 *
 * @param input A trace or a prepared trace.
 * @param options Warm-up handling.
 * @returns The trend and the timeline.
 * @throws {RangeError} When fewer than 3 runs have decode tokens.
 *
 * @example Recover an injected drift
 * ```ts
 * import { sessionDrift, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const d = sessionDrift(simulateTrace({ driftUsPerMinute: 20000, repetitions: 10 }));
 * assert.ok(d.slopeUsPerMinute.low > 0);
 * ```
 */
export function sessionDrift(input: AnalysisInput, options: DriftOptions = {}): DriftResult {
  const { includeWarmup = false } = options;
  const selected = decodeRuns(input, {
    includeWarmup,
    require: { action: "Cannot fit the drift", min: 3 },
  });
  const prep = selected.prep;
  const units = Array.from(selected.units);
  const R = prep.runs.count;
  const { run, latencyMs, count } = prep.tokens;
  const inFit = new Uint8Array(R);
  for (const i of units) inFit[i] = 1;
  const start = new Int32Array(R + 1);
  for (let i = 0; i < R; i++) {
    start[i + 1] = start[i]! + (inFit[i] ? prep.runs.decodeTokens[i]! : 0);
  }
  const grouped = new Float64Array(start[R]!);
  const fill = start.slice(0, R);
  const sums = new Float64Array(R);
  for (let t = 0; t < count; t++) {
    const i = run[t]!;
    if (!inFit[i]) continue;
    grouped[fill[i]!++] = latencyMs[t]!;
    sums[i]! += latencyMs[t]!;
  }
  const med = new Float64Array(R);
  for (const i of units) med[i] = medianInPlace(grouped, start[i]!, start[i + 1]!);
  // within-session centring = one intercept per session
  const minutes = units.map((i) => prep.runs.startedAtMs[i]! / 60000);
  const y = units.map((i) => med[i]!);
  const bySession = new Map<number, number[]>();
  units.forEach((i, j) => {
    const s = prep.runs.session[i]!;
    if (!bySession.has(s)) bySession.set(s, []);
    bySession.get(s)!.push(j);
  });
  const xc = new Float64Array(units.length);
  const yc = new Float64Array(units.length);
  let span = 0;
  for (const members of bySession.values()) {
    const mx = members.reduce((s, j) => s + minutes[j]!, 0) / members.length;
    const my = members.reduce((s, j) => s + y[j]!, 0) / members.length;
    let lo = Infinity, hi = -Infinity;
    for (const j of members) {
      xc[j] = minutes[j]! - mx;
      yc[j] = y[j]! - my;
      lo = Math.min(lo, minutes[j]!);
      hi = Math.max(hi, minutes[j]!);
    }
    span = Math.max(span, hi - lo);
  }
  const fit = ols([xc], yc);
  const df = fit.df - (bySession.size - 1);
  const se = fit.se[0]! * Math.sqrt(fit.df / df);
  const slope = Number.isFinite(fit.coef[0]!)
    ? tEstimate(
      fit.coef[0]! * 1000,
      se * 1000,
      df,
      "µs per minute",
      `least squares of per-run median latency on start time with one intercept per session (${units.length} runs), t interval`,
    )
    : missingEstimate("µs per minute", "start times do not vary");
  return {
    runs: units.length,
    sessions: bySession.size,
    slopeUsPerMinute: slope,
    spanMinutes: span,
    timeline: pl.DataFrame({
      session_id: units.map((i) => prep.sessions.sessionId[prep.runs.session[i]!]!),
      order_index: pl.Series("order_index", units.map((i) => prep.runs.orderIndex[i]!), pl.Int32),
      run_id: units.map((i) => prep.runs.runId[i]!),
      warmup: pl.Series("warmup", units.map((i) => prep.runs.warmup[i] === 1), pl.Bool),
      started_at_ms: pl.Series(
        "started_at_ms",
        units.map((i) => prep.runs.startedAtMs[i]!),
        pl.Float64,
      ),
      median_latency_ms: pl.Series("median_latency_ms", y, pl.Float64),
      mean_latency_ms: pl.Series(
        "mean_latency_ms",
        units.map((i) => sums[i]! / prep.runs.decodeTokens[i]!),
        pl.Float64,
      ),
    }),
  };
}

function firstRuns(prep: PreparedTrace, units: Int32Array): number[] {
  const first = new Map<number, number>();
  for (const i of units) {
    const s = prep.runs.session[i]!;
    const cur = first.get(s);
    if (cur === undefined || prep.runs.orderIndex[i]! < prep.runs.orderIndex[cur]!) first.set(s, i);
  }
  return [...first.values()];
}

/** Per-run mean decode latency adjusted to the mean position with the within-run slope. */
function adjustedMeans(prep: PreparedTrace, units: number[], excludeStalls: boolean): Float64Array {
  const s = slopeStats(prep, excludeStalls);
  let sxx = 0, sxy = 0, pos = 0;
  for (const i of units) {
    const n = s.n[i]!;
    sxx += s.sxx[i]! - (s.sx[i]! * s.sx[i]!) / n;
    sxy += s.sxy[i]! - (s.sx[i]! * s.sy[i]!) / n;
    pos += s.ref[i]! + s.sx[i]! / n;
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  pos /= units.length;
  const out = new Float64Array(prep.runs.count);
  for (const i of units) {
    const n = s.n[i]!;
    out[i] = s.sy[i]! / n - b * (s.ref[i]! + s.sx[i]! / n - pos);
  }
  return out;
}
