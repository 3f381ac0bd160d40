/**
 * The two sides of a comparison, read from their traces: selecting the sessions, checking
 * that there are measured runs, keying each run by its cell (prompt and setting) and
 * taking the run-level value of every metric (its log), with each side's environment.
 *
 * @module
 */

import pl from "nodejs-polars";
import { collectFrame, frameColumns, lazyPolars } from "../schema/_polars.ts";
import { type PreparedTrace, prepareTrace } from "../analysis/prepare.ts";
import type { Trace } from "../analysis/types.ts";
import { quantileSorted } from "../stats/stats.ts";
import { CELL_SETTINGS, RUN_COLUMNS, RUN_ENVIRONMENT, SESSION_ENVIRONMENT } from "./_columns.ts";
import { CompareError, type CompareMetric } from "./types.ts";

/** One side, extracted. */
export interface Side {
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

export function list(keys: string[]): string {
  if (keys.length === 0) return "none";
  const shown = keys.sort().slice(0, 4).map((k) => `"${k}"`).join(", ");
  return keys.length > 4 ? `${shown} and ${keys.length - 4} more` : shown;
}

export function countBy(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

export interface RawSide {
  name: "baseline" | "candidate";
  sessions: string[];
  trace: Trace;
  runs: pl.DataFrame;
  settings: Record<"threads" | "batchSize", Set<number>>;
  env: Map<string, string>;
}

/** Restricts a trace to the given sessions. */
export function selectSessions(trace: Trace, ids: readonly string[]): Trace {
  const keep = pl.col("session_id").isIn(ids as string[]);
  return {
    sessions: lazyPolars(trace.sessions, "the sessions table").filter(keep),
    runs: lazyPolars(trace.runs, "the runs table").filter(keep),
    tokens: lazyPolars(trace.tokens, "the tokens table").filter(keep),
  };
}

export function readSide(name: "baseline" | "candidate", trace: Trace, session?: string): RawSide {
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

export function distinct(values: unknown[]): string {
  return [...new Set(values.map((v) => (v === null || v === undefined ? "" : String(v))))]
    .sort().join(", ");
}

export function finishSide(raw: RawSide, vary: Set<string>): Side {
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
