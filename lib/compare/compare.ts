/**
 * Compares two sessions (or two datasets): is the candidate faster than the baseline, by how
 * much, and how sure is the answer. Runs are the units; cells (prompt and setting) are
 * matched between the sides.
 *
 * @module
 */

import pl from "nodejs-polars";
import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";
import { collectFrame, frameColumns, lazyPolars } from "../schema/_polars.ts";
import { type PreparedTrace, prepareTrace } from "../analysis/prepare.ts";
import { detectStalls, sessionDrift } from "../analysis/stalls.ts";
import type { Estimate, Trace } from "../analysis/types.ts";
import { LEVEL, quantileSorted } from "../stats/stats.ts";
import { CELL_SETTINGS, RUN_COLUMNS, RUN_ENVIRONMENT, SESSION_ENVIRONMENT } from "./_columns.ts";

/** A comparison verdict for one metric. */
export type CompareVerdict = "faster" | "slower" | "no change" | "inconclusive";

/** The metrics `compareSessions()` compares, as their JSON keys. */
export type CompareMetric =
  | "decodeTokensPerS"
  | "ttftMs"
  | "itlP50Ms"
  | "itlP99Ms"
  | "prefillTokensPerS"
  | "e2eTokensPerS";

/** Every metric, in display order. */
export const COMPARE_METRICS: readonly CompareMetric[] = [
  "decodeTokensPerS",
  "ttftMs",
  "itlP50Ms",
  "itlP99Ms",
  "prefillTokensPerS",
  "e2eTokensPerS",
];

/** How each metric is labelled, its unit and which direction is faster. */
export const METRIC_INFO: Readonly<
  Record<
    CompareMetric,
    { readonly label: string; readonly unit: string; readonly higherIsFaster: boolean }
  >
> = {
  decodeTokensPerS: { label: "decode tok/s", unit: "tokens/s", higherIsFaster: true },
  ttftMs: { label: "TTFT ms", unit: "ms", higherIsFaster: false },
  itlP50Ms: { label: "ITL p50 ms", unit: "ms", higherIsFaster: false },
  itlP99Ms: { label: "ITL p99 ms", unit: "ms", higherIsFaster: false },
  prefillTokensPerS: { label: "prefill tok/s", unit: "tokens/s", higherIsFaster: true },
  e2eTokensPerS: { label: "e2e tok/s", unit: "tokens/s", higherIsFaster: true },
};

/** Options of `compareSessions()`. */
export interface CompareOptions {
  /**
   * Noise threshold in percent: a ratio interval inside 1 ± threshold is `no change`.
   *
   * @default {2}
   */
  thresholdPct?: number;
  /**
   * Session of the baseline trace to compare (all of its sessions, pooled, when unset).
   *
   * @default {undefined}
   */
  baselineSession?: string;
  /**
   * Session of the candidate trace to compare (all of its sessions, pooled, when unset).
   *
   * @default {undefined}
   */
  candidateSession?: string;
  /**
   * Fewest measured runs a side should have in the shared cells; fewer gives a warning.
   *
   * @default {10}
   */
  minRuns?: number;
}

/** One metric compared. */
export interface MetricComparison {
  /** The metric's JSON key. */
  readonly metric: CompareMetric;
  /** Display label, e.g. `decode tok/s`. */
  readonly label: string;
  /** Unit of `baseline` and `candidate`. */
  readonly unit: string;
  /** True when a larger value is faster (rates), false for times. */
  readonly higherIsFaster: boolean;
  /**
   * Baseline value: geometric mean over the shared cells of each cell's geometric mean over
   * runs (the quantity whose ratio is estimated).
   */
  readonly baseline: number;
  /** Candidate value, computed like `baseline`. */
  readonly candidate: number;
  /** Candidate / baseline, with its 95% interval and method. */
  readonly ratio: Estimate;
  /** `faster`, `slower`, `no change` or `inconclusive` (see `compareSessions()`). */
  readonly verdict: CompareVerdict;
  /**
   * Smallest true change, in percent, that this much data reports as `faster` (or `slower`)
   * 80% of the time: threshold + (t quantile + normal 0.8 quantile) x standard error, on the
   * log scale. NaN when the interval could not be computed.
   */
  readonly detectablePct: number;
  /** Baseline runs used. */
  readonly baselineRuns: number;
  /** Candidate runs used. */
  readonly candidateRuns: number;
}

/** A prompt and setting, one of the units of pairing. */
export interface CompareCell {
  /** Readable key, e.g. `count depth 0 max 30` (with `threads 2` when threads vary in a side). */
  readonly key: string;
  /** Measured baseline runs in the cell. */
  readonly baselineRuns: number;
  /** Measured candidate runs in the cell. */
  readonly candidateRuns: number;
}

/** A cell that only one side has, left out of the comparison. */
export interface LeftOutCell {
  /** The side that has it. */
  readonly side: "baseline" | "candidate";
  /** Cell key. */
  readonly key: string;
  /** Measured runs it has. */
  readonly runs: number;
}

/** One environment field whose values differ between the sides. */
export interface EnvironmentDifference {
  /** What differs, e.g. `threads`. */
  readonly field: string;
  /** Baseline value(s), comma-separated when a side has several. */
  readonly baseline: string;
  /** Candidate value(s). */
  readonly candidate: string;
}

/** Kinds of comparison warnings. */
export type CompareWarningKind =
  | "few-runs"
  | "slow-first-run"
  | "stalls"
  | "drift"
  | "pooled-sessions"
  | "same-runs";

/** A warning about the data behind the comparison. */
export interface CompareWarning {
  /** Kind of warning. */
  readonly kind: CompareWarningKind;
  /** The side it concerns. */
  readonly side: "baseline" | "candidate" | "both";
  /** One sentence. */
  readonly message: string;
}

/** Result of `compareSessions()`. */
export interface SessionComparison {
  /** Noise threshold, %. */
  readonly thresholdPct: number;
  /** Session ids of the baseline side. */
  readonly baselineSessions: readonly string[];
  /** Session ids of the candidate side. */
  readonly candidateSessions: readonly string[];
  /** One entry per metric. */
  readonly metrics: Readonly<Record<CompareMetric, MetricComparison>>;
  /** The shared cells compared. */
  readonly cells: readonly CompareCell[];
  /** Cells only one side has (not compared). */
  readonly leftOut: readonly LeftOutCell[];
  /** Environment fields that differ. */
  readonly environment: readonly EnvironmentDifference[];
  /** Warnings (too few runs, slow first run, stalls on one side, drift, ...). */
  readonly warnings: readonly CompareWarning[];
}

/** Thrown when two traces cannot be compared (no shared cell, unknown session, no runs). */
export class CompareError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CompareError";
  }
}

/** One side, extracted. */
interface Side {
  name: "baseline" | "candidate";
  sessions: string[];
  prep: PreparedTrace;
  runId: string[];
  sessionOf: string[];
  orderIndex: Float64Array;
  cell: string[];
  /** log of each metric per run (NaN when undefined). */
  logs: Record<CompareMetric, Float64Array>;
  env: Map<string, string>;
  runEnv: Map<string, string>;
}

/**
 * Compares a candidate with a baseline, metric by metric: decode tokens/s, TTFT, ITL p50 and
 * p99, prefill tokens/s and e2e tokens/s, each as a candidate/baseline ratio with a 95%
 * interval and a verdict.
 *
 * Method. Each measured run (warm-ups left out) gives one value per metric (its decode
 * rate, its TTFT, the median and p99 of its own decode latencies, ...): runs are the units,
 * so tokens within a run may be autocorrelated freely. Runs are matched by cell: prompt,
 * depth and output budget, plus threads and batch size when those vary within a side
 * (settings constant on each side are environment). Within each shared cell, the log ratio is
 * the difference of the two sides' mean log values; the estimate is the mean over cells.
 * Its standard error uses each side's within-cell variance of log values, pooled over cells
 * (so 5 runs a cell still give a stable variance), and the interval is a Welch t interval
 * with Satterthwaite degrees of freedom, mapped back to a ratio. When both sides are the very
 * same runs the ratio is exactly 1 with a zero-width interval.
 *
 * Verdict (threshold t, default 2%): `no change` when the interval lies inside [1 - t, 1 + t];
 * `faster` when it lies wholly on the faster side of the band (above 1 + t for rates, below
 * 1 - t for times), `slower` the other way; `inconclusive` when it straddles an edge.
 *
 * @param baseline The baseline trace (a dataset, or one session of it with `baselineSession`).
 * @param candidate The candidate trace (may be the same dataset, with `candidateSession`).
 * @param options Threshold, session selection and the run-count warning.
 * @returns Per-metric ratios and verdicts, the cells, environment differences and warnings.
 * @throws {CompareError} When a side has no measured run, a session id is not in its trace,
 * or no cell is shared.
 * @throws {RangeError} When the threshold is not a positive number below 100.
 *
 * @example A 10% faster candidate
 * ```ts
 * import { compareSessions, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const baseline = simulateTrace({ seed: 1, repetitions: 5 });
 * const candidate = simulateTrace({ seed: 2, repetitions: 5, baseLatencyMs: 18 });
 * const result = compareSessions(baseline, candidate);
 * assert.equal(result.metrics.decodeTokensPerS.verdict, "faster");
 * assert.ok(result.metrics.decodeTokensPerS.ratio.low > 1.02);
 * ```
 */
export function compareSessions(
  baseline: Trace,
  candidate: Trace,
  options: CompareOptions = {},
): SessionComparison {
  const { thresholdPct = 2, baselineSession, candidateSession, minRuns = 10 } = options;
  if (!(thresholdPct > 0 && thresholdPct < 100)) {
    throw new RangeError(
      `Cannot compare sessions: thresholdPct must be a number > 0 and < 100, found ${thresholdPct}`,
    );
  }
  const settingsVary = new Set<string>();
  const rawB = readSide("baseline", baseline, baselineSession);
  const rawC = readSide("candidate", candidate, candidateSession);
  for (const { role } of CELL_SETTINGS) {
    if (rawB.settings[role].size > 1 || rawC.settings[role].size > 1) settingsVary.add(role);
  }
  const b = finishSide(rawB, settingsVary);
  const c = finishSide(rawC, settingsVary);

  const cellsB = countBy(b.cell);
  const cellsC = countBy(c.cell);
  const shared = [...cellsB.keys()].filter((k) => cellsC.has(k)).sort();
  const leftOut: LeftOutCell[] = [
    ...[...cellsB].filter(([k]) => !cellsC.has(k)).map(([key, runs]) => ({
      side: "baseline" as const,
      key,
      runs,
    })),
    ...[...cellsC].filter(([k]) => !cellsB.has(k)).map(([key, runs]) => ({
      side: "candidate" as const,
      key,
      runs,
    })),
  ];
  if (shared.length === 0) {
    throw new CompareError(
      `Cannot compare sessions: baseline and candidate share no prompt and setting (baseline has ${
        list([...cellsB.keys()])
      }; candidate has ${list([...cellsC.keys()])}); trace both with the same suite`,
    );
  }
  const sharedSet = new Set(shared);
  const sameRuns = b.runId.length === c.runId.length &&
    b.runId.every((id, i) => id === c.runId[i]);
  const metrics = {} as Record<CompareMetric, MetricComparison>;
  for (const m of COMPARE_METRICS) {
    metrics[m] = compareMetric(m, b, c, shared, thresholdPct, sameRuns);
  }
  const cells = shared.map((key) => ({
    key,
    baselineRuns: cellsB.get(key)!,
    candidateRuns: cellsC.get(key)!,
  }));
  const warnings: CompareWarning[] = [];
  if (sameRuns) {
    warnings.push({
      kind: "same-runs",
      side: "both",
      message: "both sides hold the same runs: the ratio is exactly 1 by construction",
    });
  }
  for (const side of [b, c]) {
    if (side.sessions.length > 1) {
      warnings.push({
        kind: "pooled-sessions",
        side: side.name,
        message: `${side.name} pools ${side.sessions.length} sessions (${
          side.sessions.join(", ")
        }); pass a session to compare one`,
      });
    }
    sideWarnings(side, sharedSet, thresholdPct, minRuns, warnings);
  }
  stallWarning(b, c, sharedSet, warnings);
  return {
    thresholdPct,
    baselineSessions: b.sessions,
    candidateSessions: c.sessions,
    metrics,
    cells,
    leftOut,
    environment: environmentDifferences(b, c),
    warnings,
  };
}

function list(keys: string[]): string {
  if (keys.length === 0) return "none";
  const shown = keys.sort().slice(0, 4).map((k) => `"${k}"`).join(", ");
  return keys.length > 4 ? `${shown} and ${keys.length - 4} more` : shown;
}

function countBy(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

interface RawSide {
  name: "baseline" | "candidate";
  sessions: string[];
  trace: Trace;
  runs: pl.DataFrame;
  settings: Record<"threads" | "batchSize", Set<number>>;
  env: Map<string, string>;
}

/** Restricts a trace to the given sessions. */
function selectSessions(trace: Trace, ids: readonly string[]): Trace {
  const keep = pl.col("session_id").isIn(ids as string[]);
  return {
    sessions: lazyPolars(trace.sessions, "the sessions table").filter(keep),
    runs: lazyPolars(trace.runs, "the runs table").filter(keep),
    tokens: lazyPolars(trace.tokens, "the tokens table").filter(keep),
  };
}

function readSide(name: "baseline" | "candidate", trace: Trace, session?: string): RawSide {
  const sessionsDf = collectFrame(trace.sessions, `the ${name}'s sessions table`);
  const ids = (sessionsDf.getColumn("session_id").toArray() as string[]).slice().sort();
  let sessions = ids;
  if (session !== undefined) {
    if (!ids.includes(session)) {
      throw new CompareError(
        `Cannot compare sessions: the ${name} has no session "${session}"; it has ${list(ids)}`,
      );
    }
    sessions = [session];
  }
  const selected = sessions.length === ids.length ? trace : selectSessions(trace, sessions);
  const have = new Set(frameColumns(selected.runs, `the ${name}'s runs table`));
  for (const column of Object.values(RUN_COLUMNS)) {
    if (!have.has(column)) {
      throw new CompareError(
        `Cannot compare sessions: the ${name}'s runs table must have column "${column}", found none`,
      );
    }
  }
  const R = RUN_COLUMNS;
  const runs = lazyPolars(selected.runs, `the ${name}'s runs table`)
    .filter(pl.col(R.warmup).not())
    .select(
      pl.col(R.sessionId).cast(pl.String),
      pl.col(R.runId).cast(pl.String),
      pl.col(R.orderIndex).cast(pl.Float64),
      pl.col(R.promptId).cast(pl.String),
      ...[
        R.promptTokens,
        R.depthTokens,
        R.maxTokens,
        R.threads,
        R.batchSize,
        R.contextSize,
        R.outputTokens,
        R.prefillMs,
        R.ttftMs,
        R.decodeMs,
        R.totalMs,
      ].map((col) => pl.col(col).cast(pl.Float64)),
      pl.col(R.cpuAffinity).cast(pl.String),
    )
    .sort([R.sessionId, R.orderIndex])
    .collectSync();
  if (runs.height === 0) {
    throw new CompareError(
      `Cannot compare sessions: the ${name} must have a measured (non-warm-up) run, found none`,
    );
  }
  const num = (col: string): number[] => Array.from(runs.getColumn(col).toArray() as number[]);
  const sessionRows = sessionsDf.filter(pl.col("session_id").isIn(sessions));
  const env = new Map<string, string>();
  const sessionCols = new Set(sessionRows.columns);
  for (const { column, label } of SESSION_ENVIRONMENT) {
    if (!sessionCols.has(column)) continue;
    env.set(label, distinct(sessionRows.getColumn(column).toArray()));
  }
  return {
    name,
    sessions,
    trace: selected,
    runs,
    settings: { threads: new Set(num(R.threads)), batchSize: new Set(num(R.batchSize)) },
    env,
  };
}

function distinct(values: unknown[]): string {
  return [...new Set(values.map((v) => (v === null || v === undefined ? "" : String(v))))]
    .sort().join(", ");
}

function finishSide(raw: RawSide, vary: Set<string>): Side {
  const R = RUN_COLUMNS;
  const df = raw.runs;
  const f64 = (col: string): Float64Array =>
    Float64Array.from(df.getColumn(col).toArray() as number[]);
  const runId = df.getColumn(R.runId).toArray() as string[];
  const n = runId.length;
  const promptId = df.getColumn(R.promptId).toArray() as string[];
  const depth = f64(R.depthTokens), maxTokens = f64(R.maxTokens);
  const settings = { threads: f64(R.threads), batchSize: f64(R.batchSize) };
  const cell = runId.map((_, i) => {
    let key = `${promptId[i]} depth ${depth[i]} max ${maxTokens[i]}`;
    for (const { role, label } of CELL_SETTINGS) {
      if (vary.has(role)) key += ` ${label} ${settings[role][i]}`;
    }
    return key;
  });
  const out = f64(R.outputTokens), prompt = f64(R.promptTokens);
  const prefill = f64(R.prefillMs), ttft = f64(R.ttftMs), decode = f64(R.decodeMs);
  const total = f64(R.totalMs);
  const logOf = (v: number): number => (v > 0 && Number.isFinite(v) ? Math.log(v) : Number.NaN);
  const logs = {} as Record<CompareMetric, Float64Array>;
  logs.decodeTokensPerS = Float64Array.from(
    runId,
    (_, i) => (out[i]! >= 2 ? logOf(((out[i]! - 1) / decode[i]!) * 1000) : Number.NaN),
  );
  logs.ttftMs = Float64Array.from(runId, (_, i) => logOf(ttft[i]!));
  logs.prefillTokensPerS = Float64Array.from(
    runId,
    (_, i) => logOf(((prompt[i]! + depth[i]!) / prefill[i]!) * 1000),
  );
  logs.e2eTokensPerS = Float64Array.from(runId, (_, i) => logOf((out[i]! / total[i]!) * 1000));
  // per-run ITL quantiles from the run's own decode latencies
  // only latencies matter here: blank the token content so preparing skips its features
  const prep = prepareTrace({
    ...raw.trace,
    tokens: lazyPolars(raw.trace.tokens, "the tokens table").select(
      "run_id",
      "token_index",
      "position",
      "latency_ms",
      pl.lit(0).cast(pl.Int32).alias("token_id"),
      pl.lit("").alias("piece"),
      pl.lit(0).cast(pl.Int32).alias("piece_bytes"),
    ),
  });
  const index = new Map(prep.runs.runId.map((id, i) => [id, i]));
  const lat: number[][] = prep.runs.runId.map(() => []);
  for (let t = 0; t < prep.tokens.count; t++) {
    lat[prep.tokens.run[t]!]!.push(prep.tokens.latencyMs[t]!);
  }
  logs.itlP50Ms = new Float64Array(n);
  logs.itlP99Ms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = index.get(runId[i]!);
    const own = k === undefined ? [] : lat[k]!.sort((x, y) => x - y);
    logs.itlP50Ms[i] = own.length ? logOf(quantileSorted(own, 0.5)) : Number.NaN;
    logs.itlP99Ms[i] = own.length ? logOf(quantileSorted(own, 0.99)) : Number.NaN;
  }
  const runEnv = new Map<string, string>();
  for (const { role, label } of RUN_ENVIRONMENT) {
    runEnv.set(label, distinct(df.getColumn(R[role]).toArray()));
  }
  return {
    name: raw.name,
    sessions: raw.sessions,
    prep,
    runId,
    sessionOf: df.getColumn(R.sessionId).toArray() as string[],
    orderIndex: f64(R.orderIndex),
    cell,
    logs,
    env: raw.env,
    runEnv,
  };
}

/** Per-cell mean and sum of squares of finite log values of one side. */
function cellStats(
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

function compareMetric(
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
function verdictOf(ratio: Estimate, t: number, higherIsFaster: boolean): CompareVerdict {
  if (ratio.low >= 1 - t && ratio.high <= 1 + t) return "no change";
  if (ratio.low > 1 + t) return higherIsFaster ? "faster" : "slower";
  if (ratio.high < 1 - t) return higherIsFaster ? "slower" : "faster";
  return "inconclusive";
}

function sideWarnings(
  side: Side,
  shared: Set<string>,
  thresholdPct: number,
  minRuns: number,
  warnings: CompareWarning[],
): void {
  const inShared = side.cell.map((k) => shared.has(k));
  const runs = inShared.filter(Boolean).length;
  if (runs < minRuns) {
    warnings.push({
      kind: "few-runs",
      side: side.name,
      message:
        `${side.name} has only ${runs} measured runs in the shared cells (at least ${minRuns} a side give a dependable interval)`,
    });
  }
  // slow first run: the first measured run of each session against the other runs of its cell
  const total = side.logs.e2eTokensPerS; // log(output / total): lower is slower
  const cellRuns = new Map<string, number[]>();
  side.cell.forEach((k, i) => {
    if (!inShared[i] || !Number.isFinite(total[i]!)) return;
    if (!cellRuns.has(k)) cellRuns.set(k, []);
    cellRuns.get(k)!.push(i);
  });
  let ss = 0, df = 0;
  for (const members of cellRuns.values()) {
    const mean = members.reduce((s, i) => s + total[i]!, 0) / members.length;
    for (const i of members) ss += (total[i]! - mean) ** 2;
    df += members.length - 1;
  }
  const sd = df > 0 ? Math.sqrt(ss / df) : Number.NaN;
  const first = new Map<string, number>();
  side.sessionOf.forEach((s, i) => {
    if (inShared[i] && !first.has(s)) first.set(s, i);
  });
  for (const [session, i] of first) {
    const others = cellRuns.get(side.cell[i]!)!.filter((k) => k !== i);
    if (others.length < 2 || !(sd > 0)) continue;
    const rest = others.reduce((s, k) => s + total[k]!, 0) / others.length;
    const z = (total[i]! - rest) / sd;
    if (z < -3) {
      warnings.push({
        kind: "slow-first-run",
        side: side.name,
        message: `${side.name}: the first measured run of session ${session} (${
          side.cell[i]
        }) took ${
          ((Math.exp(rest - total[i]!) - 1) * 100).toFixed(0)
        }% longer than the rest of its cell (${
          (-z).toFixed(1)
        } sd); add warm-up runs or leave it out`,
      });
    }
  }
  // drift within the session
  try {
    const prep = side.prep;
    const drift = sessionDrift(prep);
    const s = drift.slopeUsPerMinute;
    let medianMs = 0, count = 0;
    for (let t = 0; t < prep.tokens.count; t += 1) {
      if (!prep.runs.warmup[prep.tokens.run[t]!]) {
        medianMs += prep.tokens.latencyMs[t]!;
        count++;
      }
    }
    medianMs /= count;
    const changePct = (s.value / 1000) * drift.spanMinutes / medianMs * 100;
    if ((s.low > 0 || s.high < 0) && Math.abs(changePct) > thresholdPct) {
      warnings.push({
        kind: "drift",
        side: side.name,
        message: `${side.name}: decode latency drifts by ${
          changePct.toFixed(1)
        }% over the session (${s.value.toFixed(0)} µs per minute, 95% CI ${s.low.toFixed(0)} to ${
          s.high.toFixed(0)
        }); interleave the runs or check for other load`,
      });
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e; // fewer than 3 runs: no drift fit
  }
}

function stallWarning(b: Side, c: Side, shared: Set<string>, warnings: CompareWarning[]): void {
  const count = (side: Side): { stalls: number; tokens: number; rule: string } => {
    const keep = new Set(side.runId.filter((_, i) => shared.has(side.cell[i]!)));
    try {
      const s = detectStalls(side.prep, { includeWarmup: false, resamples: 50 });
      const ids = s.byRun.getColumn("run_id").toArray() as string[];
      const st = s.byRun.getColumn("stalls").toArray() as number[];
      const tk = s.byRun.getColumn("tokens").toArray() as number[];
      let stalls = 0, tokens = 0;
      ids.forEach((id, i) => {
        if (!keep.has(id)) return;
        stalls += Number(st[i]);
        tokens += Number(tk[i]);
      });
      return { stalls, tokens, rule: s.rule };
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return { stalls: 0, tokens: 0, rule: "" };
    }
  };
  const sb = count(b), sc = count(c);
  const rate = (s: { stalls: number; tokens: number }): number =>
    s.tokens > 0 ? (s.stalls / s.tokens) * 1000 : 0;
  const [hi, lo, hiName] = rate(sb) >= rate(sc) ? [sb, sc, "baseline"] : [sc, sb, "candidate"];
  // one-sided binomial test of the split of all stalls between the sides, given their tokens
  const n = hi.stalls + lo.stalls;
  const p = hi.tokens / (hi.tokens + lo.tokens);
  if (hi.stalls >= 3 && rate(hi) >= 3 * rate(lo) && binomialUpperTail(hi.stalls, n, p) < 0.01) {
    warnings.push({
      kind: "stalls",
      side: hiName as "baseline" | "candidate",
      message:
        `stalls on one side: ${hiName} has ${hi.stalls} stalls in ${hi.tokens} decode tokens (${
          rate(hi).toFixed(1)
        } per 1000) against ${lo.stalls} in ${lo.tokens} (${
          rate(lo).toFixed(1)
        } per 1000; one-sided binomial p < 0.01; ${hi.rule}); ITL p99 and decode rates reflect them`,
    });
  }
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space. */
function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let logPmf = n * Math.log(1 - p); // P(X = 0)
  const odds = Math.log(p / (1 - p));
  let tail = 0;
  for (let j = 0; j < n; j++) {
    if (j >= k) tail += Math.exp(logPmf);
    logPmf += Math.log((n - j) / (j + 1)) + odds;
  }
  return tail + Math.exp(logPmf); // j = n
}

function environmentDifferences(b: Side, c: Side): EnvironmentDifference[] {
  const out: EnvironmentDifference[] = [];
  const compare = (mb: Map<string, string>, mc: Map<string, string>): void => {
    for (const field of new Set([...mb.keys(), ...mc.keys()])) {
      const vb = mb.get(field) ?? "(not recorded)", vc = mc.get(field) ?? "(not recorded)";
      if (vc !== vb) out.push({ field, baseline: vb, candidate: vc });
    }
  };
  compare(b.env, c.env);
  compare(b.runEnv, c.runEnv);
  return out;
}
