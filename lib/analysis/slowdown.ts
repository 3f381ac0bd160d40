/**
 * The slowdown curve: decode latency against context position with per-run intercepts,
 * the three windows of the original write-up, and the curve over a depth sweep.
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame } from "../schema/frame.ts";
import fCdf from "@stdlib/stats-base-dists-f-cdf";
import { clusterBootstrap, Rng, weightedTotals } from "../stats/rng.ts";
import { slopeRuns, type slopeStats, stallFlags, withinSums } from "./_runstats.ts";
import { fitCross } from "../stats/linalg.ts";
import {
  bootstrapEstimate,
  bootstrapMethod,
  intervalSide,
  missingEstimate,
  tEstimate,
} from "../stats/stats.ts";
import { clusterSlope } from "../stats/cluster.ts";
import type { AnalysisInput, prepareTrace } from "./prepare.ts";
import type { Estimate } from "./types.ts";

/** Options of `fitSlowdown()`. */
export interface SlowdownOptions {
  /**
   * Seed of the cluster bootstrap (start latency and windows; the slope's interval is
   * analytic).
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Bootstrap resamples (of runs, with replacement) for the start latency and windows.
   *
   * @default {1000}
   */
  resamples?: number;
  /**
   * Include warm-up runs in the fit.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
  /**
   * Windows of generated-token indices (inclusive) to report mean latency and tokens/s for.
   *
   * @default {[[1, 10], [11, 40], [41, 50]]}
   */
  windows?: readonly (readonly [number, number])[];
  /**
   * Claimed slowdown range in % per 10 tokens to give a verdict on.
   *
   * @default {[1, 2]}
   */
  claimPctPer10?: readonly [number, number];
  /**
   * Leave out stalls (tokens flagged by `detectStalls()`'s default rule), so rare long pauses
   * do not drive the fit; `detectStalls()` reports them.
   *
   * @default {true}
   */
  excludeStalls?: boolean;
}

/** Mean latency over a window of generated-token indices. */
export interface SlowdownWindow {
  /** First token index of the window (inclusive). */
  readonly firstToken: number;
  /** Last token index of the window (inclusive). */
  readonly lastToken: number;
  /** Runs with at least one token in the window. */
  readonly runs: number;
  /** Tokens in the window. */
  readonly tokens: number;
  /** Mean decode latency of the window's tokens. */
  readonly meanLatencyMs: Estimate;
  /** The window's rate, 1000 / mean latency. */
  readonly tokensPerS: Estimate;
}

/** Verdict on a claimed slowdown range against the interval of the fitted slowdown. */
export interface ClaimVerdict {
  /** Low end of the claim, % per 10 tokens. */
  readonly lowPct: number;
  /** High end of the claim, % per 10 tokens. */
  readonly highPct: number;
  /**
   * `consistent` when the claimed range overlaps the 95% interval, `overstated` when the
   * whole interval lies below the claim, `understated` when it lies above.
   */
  readonly verdict: "consistent" | "overstated" | "understated";
  /**
   * Whether session drift alone could produce the within-run slope (`drift.canExplainSlope`):
   * then the verdict is on position cost plus drift, which only a depth sweep separates.
   */
  readonly driftCanExplainSlope: boolean;
}

/**
 * How much of the within-run slope elapsed-time drift can explain. Within a run, context
 * position and elapsed time advance together (one token every `msPerToken` ms), so the
 * within-run slope is position cost + drift rate x ms per token. The drift rate is estimated
 * between runs, from run mean latency against the run's time in the session.
 */
export interface DriftSplit {
  /** Mean decode latency of the fitted tokens: session time per token, ms. */
  readonly msPerToken: number;
  /**
   * Drift rate between runs: least squares of each run's mean decode latency (stalls left
   * out) on the run's midpoint in the session, with one intercept per session, prompt and
   * depth (runs with equal within-run positions are compared), t interval.
   */
  readonly rateMsPerS: Estimate;
  /** The part of the within-run slope the drift explains: rate x ms per token. */
  readonly explainedUsPerToken: Estimate;
  /**
   * Within-run slope minus the drift part: the position cost if drift were linear in session
   * time (interval from both variances, Welch-Satterthwaite df).
   */
  readonly positionUsPerToken: Estimate;
  /**
   * True when the explained interval reaches the within-run slope (or no drift rate could be
   * estimated): the within-run slope alone cannot tell position cost from drift. The depth
   * sweep's between-depth contrast at equal within-run positions separates them.
   */
  readonly canExplainSlope: boolean;
}

/** Curve over a depth sweep, fitted across runs. */
export interface DepthSweep {
  /** Distinct `depth_tokens` values. */
  readonly depths: number;
  /** Runs in the fit. */
  readonly runs: number;
  /**
   * Slope of per-run mean latency on per-run mean position: a contrast between depths at equal
   * within-run positions, so drift within runs does not enter it (session drift between runs
   * only adds noise, as the run order is shuffled). It separates position cost from drift
   * where the within-run slope cannot.
   */
  readonly slopeUsPerToken: Estimate;
  /** Lack-of-fit F test of the straight line against one mean per depth (NaN with 2 depths). */
  readonly linearity: {
    /** F statistic. */
    readonly statistic: number;
    /** Numerator degrees of freedom. */
    readonly df1: number;
    /** Denominator degrees of freedom. */
    readonly df2: number;
    /** p-value from the F distribution. */
    readonly pValue: number;
    /** How the test was done. */
    readonly method: string;
  };
  /**
   * One row per depth: `depth_tokens`, `runs`, `mean_position`, `mean_latency_ms`,
   * `low_ms`, `high_ms` (t interval of the mean over runs) and `fitted_ms` (the line).
   */
  readonly curve: Frame;
}

/** Result of `fitSlowdown()`. */
export interface SlowdownResult {
  /** Runs in the fit. */
  readonly runs: number;
  /** Decode tokens in the fit. */
  readonly tokens: number;
  /** Stalls left out of the fit (0 unless `excludeStalls`). */
  readonly stallsExcluded: number;
  /** The model fitted. */
  readonly model: string;
  /** b: added decode latency per context token. */
  readonly slopeUsPerToken: Estimate;
  /** Fitted latency at the start of decode (mean over runs of each run's fit at its first decode token). */
  readonly startLatencyMs: Estimate;
  /** Slowdown per 10 context tokens, 10 b as a % of `startLatencyMs`. */
  readonly slowdownPctPer10: Estimate;
  /** Verdict on the claimed range. */
  readonly claim: ClaimVerdict;
  /** Mean latency and tokens/s per window of generated tokens. */
  readonly windows: readonly SlowdownWindow[];
  /**
   * One row per token index: `token_index`, `tokens`, `mean_latency_ms` and `fitted_ms`
   * (mean of the fitted values).
   */
  readonly curve: Frame;
  /** Curve over the depth range, when runs have at least two distinct `depth_tokens`. */
  readonly depthSweep: DepthSweep | null;
  /** How much of the within-run slope session drift can explain. */
  readonly drift: DriftSplit;
}

/**
 * Fits decode latency = a_run + b * position by within-run (fixed-effects) least squares and
 * reports b in µs per context token, the slowdown per 10 tokens as a percentage of the fitted
 * latency at the start of decode, the original write-up's three windows and, when the runs
 * sweep depth, the curve over the depth range with a lack-of-fit test of linearity.
 *
 * The slope's interval is a CR2 cluster-robust t interval with Bell-McCaffrey degrees of
 * freedom (`clusterSlope()`): runs are the independent units and tokens within a run may be
 * autocorrelated, heavy-tailed and heteroskedastic. Unlike a percentile bootstrap over runs,
 * it keeps nominal coverage with 40-50 runs (`tests/validity/slope_test.ts`). The slowdown in
 * % per 10 tokens scales that interval by the fitted start latency. The start latency and
 * windows use a seeded percentile cluster bootstrap over runs.
 *
 * Within a run, position and elapsed time advance together, so a drifting machine adds
 * drift rate x ms per token to the slope; `drift` estimates that part between runs and says
 * when it could explain the whole slope (then only the depth sweep separates the two).
 *
 * @param input A trace or a prepared trace.
 * @param options Seed, resamples, warm-up handling, windows and the claim to judge.
 * @returns The fit, windows, curve and verdict.
 * @throws {RangeError} When no run has decode tokens, or an option is out of range.
 *
 * @example Recover an injected slope
 * ```ts
 * import { fitSlowdown, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const fit = fitSlowdown(simulateTrace({ slopeUsPerToken: 30, noiseSdMs: 0.2 }), { resamples: 200 });
 * assert.ok(fit.slopeUsPerToken.low < 30 && 30 < fit.slopeUsPerToken.high);
 * assert.equal(fit.windows.length, 3);
 * ```
 */
export function fitSlowdown(input: AnalysisInput, options: SlowdownOptions = {}): SlowdownResult {
  const {
    seed = 1,
    resamples = 1000,
    includeWarmup = false,
    windows = [[1, 10], [11, 40], [41, 50]],
    claimPctPer10 = [1, 2],
    excludeStalls = true,
  } = options;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(
      `Cannot fit the slowdown curve: resamples must be an integer >= 1, found ${resamples}`,
    );
  }
  const { prep, stats: s, units } = slopeRuns(input, {
    includeWarmup,
    excludeStalls,
    require: {
      action: "Cannot fit the slowdown curve",
      run: `${includeWarmup ? "" : "non-warm-up "}run with decode tokens`,
    },
  });
  const skip = excludeStalls ? stallFlags(prep).flags : new Uint8Array(prep.tokens.count);
  const nRuns = prep.runs.count;
  const nw = windows.length;
  const winN = new Float64Array(nRuns * nw);
  const winS = new Float64Array(nRuns * nw);
  const { run, tokenIndex, latencyMs, count } = prep.tokens;
  let maxIndex = 0;
  for (let t = 0; t < count; t++) {
    if (skip[t] === 1) continue;
    const k = tokenIndex[t]!;
    if (k > maxIndex) maxIndex = k;
    for (let w = 0; w < nw; w++) {
      const [lo, hi] = windows[w]!;
      if (k >= lo && k <= hi) {
        winN[run[t]! * nw + w]!++;
        winS[run[t]! * nw + w]! += latencyMs[t]!;
      }
    }
  }

  // per-unit (run) columns, so one resample is one pass over the units
  const U = units.length;
  const { wxx, wxy, ybar, xbar } = withinSums(s, units);
  const lead = Float64Array.from(units, (i, u) => xbar[u]! - s.xStart[i]!);
  const windowColumn = (sums: Float64Array, k: number): Float64Array =>
    Float64Array.from(units, (i) => sums[i * nw + k]!);
  const columns = [
    wxx,
    wxy,
    new Float64Array(U).fill(1),
    ybar,
    lead,
    ...windows.map((_, k) => windowColumn(winN, k)),
    ...windows.map((_, k) => windowColumn(winS, k)),
  ];
  const nStats = 3 + 2 * nw;
  const compute = (weights: Float64Array, out: Float64Array): void => {
    const totals = weightedTotals(columns, weights);
    const [sxx, sxy, wr, sy, sl] = totals;
    const b = sxx! > 0 ? sxy! / sxx! : Number.NaN;
    const start = (sy! - (sxx! > 0 ? b : 0) * sl!) / wr!;
    out[0] = b * 1000;
    out[1] = start;
    out[2] = ((10 * b) / start) * 100;
    for (let k = 0; k < nw; k++) {
      const nn = totals[5 + k]!, ss = totals[5 + nw + k]!;
      out[3 + 2 * k] = nn > 0 ? ss / nn : Number.NaN;
      out[4 + 2 * k] = nn > 0 ? (1000 * nn) / ss : Number.NaN;
    }
  };
  const point = new Float64Array(nStats);
  compute(new Float64Array(U).fill(1), point);
  const one = new Float64Array(nStats);
  const reps = clusterBootstrap(new Rng(seed), { units: U, resamples, width: nStats }, (counts) => {
    compute(counts, one);
    return one;
  });
  const method = bootstrapMethod(units.length, resamples, seed);
  const est = (j: number, unit: string): Estimate =>
    bootstrapEstimate(point[j]!, reps[j]!, unit, method);
  const cr2 = clusterSlope(wxx, wxy);
  const slopeMethod = `CR2 cluster-robust t interval over ${cr2.clusters} runs, Bell-McCaffrey df ${
    cr2.df.toFixed(1)
  }`;
  const slope = tEstimate(
    cr2.slope * 1000,
    cr2.se * 1000,
    cr2.df,
    "µs per context token",
    slopeMethod,
  );
  const start = point[1]!;
  const pct = (v: number): number => ((10 * v) / 1000 / start) * 100;
  const slowdown: Estimate = {
    value: pct(slope.value),
    low: pct(slope.low),
    high: pct(slope.high),
    unit: "% per 10 context tokens",
    method: `${slopeMethod}, scaled by the fitted start latency`,
  };
  const drift = driftSplit(prep, units, s, {
    value: slope.value,
    se: cr2.se * 1000,
    df: cr2.df,
  });
  const [lowPct, highPct] = claimPctPer10;
  const verdict = ({ below: "overstated", above: "understated", within: "consistent" } as const)[
    intervalSide(slowdown, [lowPct, highPct])
  ];

  const windowResults: SlowdownWindow[] = windows.map(([firstToken, lastToken], w) => {
    let runsIn = 0, tokensIn = 0;
    for (const i of units) {
      const c = winN[i * nw + w]!;
      if (c > 0) runsIn++;
      tokensIn += c;
    }
    const empty = tokensIn === 0;
    const reason = `no decode tokens with index ${firstToken}-${lastToken}`;
    return {
      firstToken,
      lastToken,
      runs: runsIn,
      tokens: tokensIn,
      meanLatencyMs: empty ? missingEstimate("ms", reason) : est(3 + 2 * w, "ms"),
      tokensPerS: empty ? missingEstimate("tokens/s", reason) : est(4 + 2 * w, "tokens/s"),
    };
  });

  // curve per token index: mean latency and mean fitted value
  const b = point[0]! / 1000;
  const cN = new Float64Array(maxIndex + 1);
  const cY = new Float64Array(maxIndex + 1);
  const cF = new Float64Array(maxIndex + 1);
  const inFit = new Uint8Array(nRuns);
  for (const i of units) inFit[i] = 1;
  const { position } = prep.tokens;
  for (let t = 0; t < count; t++) {
    const i = run[t]!;
    if (inFit[i] === 0 || skip[t] === 1) continue;
    const k = tokenIndex[t]!;
    const n = s.n[i]!;
    cN[k]!++;
    cY[k]! += latencyMs[t]!;
    cF[k]! += s.sy[i]! / n +
      (Number.isFinite(b) ? b : 0) * (position[t]! - s.ref[i]! - s.sx[i]! / n);
  }
  const idx: number[] = [];
  for (let k = 0; k <= maxIndex; k++) if (cN[k]! > 0) idx.push(k);
  const curve = pl.DataFrame({
    token_index: pl.Series("token_index", Int32Array.from(idx)),
    tokens: pl.Series("tokens", Int32Array.from(idx, (k) => cN[k]!)),
    mean_latency_ms: pl.Series("mean_latency_ms", Float64Array.from(idx, (k) => cY[k]! / cN[k]!)),
    fitted_ms: pl.Series("fitted_ms", Float64Array.from(idx, (k) => cF[k]! / cN[k]!)),
  });

  let tokens = 0, stallsExcluded = 0;
  for (const i of units) {
    tokens += s.n[i]!;
    stallsExcluded += prep.runs.decodeTokens[i]! - s.n[i]!;
  }
  return {
    runs: units.length,
    tokens,
    stallsExcluded,
    model: `latency_ms = a_run + b * position + e, within-run (fixed-effects) least squares${
      excludeStalls ? ", stalls left out" : ""
    }`,
    slopeUsPerToken: slope,
    startLatencyMs: est(1, "ms"),
    slowdownPctPer10: slowdown,
    claim: { lowPct, highPct, verdict, driftCanExplainSlope: drift.canExplainSlope },
    windows: windowResults,
    curve,
    depthSweep: depthSweep(prep, units, s),
    drift,
  };
}

function driftSplit(
  prep: ReturnType<typeof prepareTrace>,
  units: Int32Array,
  s: ReturnType<typeof slopeStats>,
  slope: { value: number; se: number; df: number },
): DriftSplit {
  const r = prep.runs;
  let sy = 0, n = 0;
  for (const i of units) {
    sy += s.sy[i]!;
    n += s.n[i]!;
  }
  const msPerToken = sy / n;
  // run means centred within (session, prompt, depth) cells: equal within-run positions
  const cells = new Map<string, number[]>();
  for (const i of units) {
    const key = `${r.session[i]}|${r.promptId[i]}|${r.depthTokens[i]}`;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key)!.push(i);
  }
  let stt = 0, sty = 0, syy = 0;
  const centred: [number, number][] = [];
  for (const members of cells.values()) {
    if (members.length < 2) continue;
    const mid = members.map((i) => (r.startedAtMs[i]! + r.totalMs[i]! / 2) / 1000);
    const y = members.map((i) => s.sy[i]! / s.n[i]!);
    const mt = mid.reduce((a, b) => a + b, 0) / mid.length;
    const my = y.reduce((a, b) => a + b, 0) / y.length;
    members.forEach((_, j) => centred.push([mid[j]! - mt, y[j]! - my]));
  }
  for (const [t, y] of centred) {
    stt += t * t;
    sty += t * y;
    syy += y * y;
  }
  const usedCells = [...cells.values()].filter((m) => m.length >= 2).length;
  const df = centred.length - usedCells - 1;
  const rateMethod =
    `least squares of per-run mean latency on time in session with one intercept per session, prompt and depth (${centred.length} runs), t interval`;
  if (!(stt > 0) || df < 1) {
    const why = "too few runs sharing a prompt and depth to estimate drift between runs";
    return {
      msPerToken,
      rateMsPerS: missingEstimate("ms per s of session time", why),
      explainedUsPerToken: missingEstimate("µs per context token", why),
      positionUsPerToken: missingEstimate("µs per context token", why),
      canExplainSlope: true,
    };
  }
  const d = sty / stt;
  const seD = Math.sqrt(Math.max(0, syy - d * sty) / df / stt);
  const rate = tEstimate(d, seD, df, "ms per s of session time", rateMethod);
  // rate [ms/s] x msPerToken [ms] / 1000 [s/ms] = ms per token = rate x msPerToken µs per token
  const explained = tEstimate(
    d * msPerToken,
    seD * msPerToken,
    df,
    "µs per context token",
    `drift rate between runs x ${msPerToken.toFixed(2)} ms per token; ${rateMethod}`,
  );
  const se = Math.hypot(slope.se, seD * msPerToken);
  const dfW = se ** 4 / (slope.se ** 4 / slope.df + (seD * msPerToken) ** 4 / df);
  const position = tEstimate(
    slope.value - explained.value,
    se,
    dfW,
    "µs per context token",
    `within-run slope minus the drift part, Welch-Satterthwaite df ${dfW.toFixed(1)}`,
  );
  const reaches = slope.value >= 0 ? explained.high >= slope.value : explained.low <= slope.value;
  return {
    msPerToken,
    rateMsPerS: rate,
    explainedUsPerToken: explained,
    positionUsPerToken: position,
    canExplainSlope: reaches,
  };
}

function depthSweep(
  prep: ReturnType<typeof prepareTrace>,
  units: Int32Array,
  s: ReturnType<typeof slopeStats>,
): DepthSweep | null {
  const depthOf = prep.runs.depthTokens;
  const depths = [...new Set(Array.from(units, (i) => depthOf[i]!))].sort((a, b) => a - b);
  if (depths.length < 2) return null;
  const g = depths.length;
  const R = units.length;
  // cross-products of [1, pos, depth dummies (g - 1), y]
  const p = g + 2;
  const m = new Float64Array(p * p);
  const dIndex = new Map(depths.map((d, k) => [d, k]));
  const row = new Float64Array(p);
  const perDepth = depths.map(() => ({ runs: 0, pos: 0, y: 0, yy: 0 }));
  for (const i of units) {
    const n = s.n[i]!;
    const y = s.sy[i]! / n;
    const pos = s.ref[i]! + s.sx[i]! / n;
    const k = dIndex.get(depthOf[i]!)!;
    row.fill(0);
    row[0] = 1;
    row[1] = pos;
    if (k > 0) row[1 + k] = 1;
    row[p - 1] = y;
    for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) m[a * p + c]! += row[a]! * row[c]!;
    const d = perDepth[k]!;
    d.runs++;
    d.pos += pos;
    d.y += y;
    d.yy += y * y;
  }
  const linear = fitCross(m, p, [1], p - 1, 0);
  const full = fitCross(m, p, Array.from({ length: g }, (_, k) => k + 1), p - 1, 0);
  const dfLin = R - 1 - linear.rank;
  const dfFull = R - 1 - full.rank;
  const df1 = dfLin - dfFull;
  const F = df1 > 0 && dfFull > 0
    ? ((linear.rss - full.rss) / df1) / (full.rss / dfFull)
    : Number.NaN;
  const pValue = Number.isFinite(F) ? 1 - fCdf(F, df1, dfFull) : Number.NaN;
  // slope standard error from the linear fit
  const cm = m.slice();
  const sxx = cm[1 * p + 1]! - (cm[1]! * cm[1]!) / cm[0]!;
  const se = Math.sqrt(linear.rss / (R - 2) / sxx);
  const slope = linear.coef[0]!;
  const mean = { x: m[1]! / R, y: m[p - 1]! / R };
  const intercept = mean.y - slope * mean.x;
  const rows = perDepth.map((d, k) => {
    const my = d.y / d.runs;
    const sd = Math.sqrt(Math.max(0, (d.yy - d.runs * my * my) / (d.runs - 1)));
    const ci = tEstimate(my, sd / Math.sqrt(d.runs), d.runs - 1, "ms", "");
    const mp = d.pos / d.runs;
    return {
      depth: depths[k]!,
      runs: d.runs,
      mp,
      my,
      low: ci.low,
      high: ci.high,
      fit: intercept + slope * mp,
    };
  });
  return {
    depths: g,
    runs: R,
    slopeUsPerToken: tEstimate(
      slope * 1000,
      se * 1000,
      R - 2,
      "µs per context token",
      `least squares of per-run mean latency on per-run mean position across ${R} runs, t interval`,
    ),
    linearity: {
      statistic: F,
      df1,
      df2: dfFull,
      pValue,
      method:
        `lack-of-fit F test of the straight line against one mean per depth (${g} depths, runs as units)`,
    },
    curve: pl.DataFrame({
      depth_tokens: pl.Series("depth_tokens", rows.map((r) => r.depth), pl.Int32),
      runs: pl.Series("runs", rows.map((r) => r.runs), pl.Int32),
      mean_position: pl.Series("mean_position", rows.map((r) => r.mp), pl.Float64),
      mean_latency_ms: pl.Series("mean_latency_ms", rows.map((r) => r.my), pl.Float64),
      low_ms: pl.Series("low_ms", rows.map((r) => r.low), pl.Float64),
      high_ms: pl.Series("high_ms", rows.map((r) => r.high), pl.Float64),
      fitted_ms: pl.Series("fitted_ms", rows.map((r) => r.fit), pl.Float64),
    }),
  };
}
