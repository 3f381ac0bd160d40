/**
 * Per-run sufficient statistics (counts, sums and cross-products of token-level columns),
 * computed in one pass over the decode tokens. Every fit and every bootstrap resample works
 * from these, so a resample costs O(runs), not O(tokens).
 *
 * @module
 */

import { packedIndex, packedSize } from "../stats/linalg.ts";
import { type AnalysisInput, type PreparedTrace, prepareTrace } from "./prepare.ts";
import { flagStalls, STALL_THRESHOLD, type StallFlags } from "./_stall_rule.ts";

/** Per-run sums for the slowdown fit, with x = position minus a per-run reference. */
export interface SlopeStats {
  /** Decode tokens per run. */
  n: Float64Array;
  /** Sum of x. */
  sx: Float64Array;
  /** Sum of latency (ms). */
  sy: Float64Array;
  /** Sum of x^2. */
  sxx: Float64Array;
  /** Sum of x * latency. */
  sxy: Float64Array;
  /** Per-run reference position (x = position - ref). */
  ref: Float64Array;
  /** Smallest x of the run (the start of decode). */
  xStart: Float64Array;
}

const caches = new WeakMap<PreparedTrace, Map<string, unknown>>();

/** Computes `f()` once per prepared trace and key. */
function memo<T>(prep: PreparedTrace, key: string, f: () => T): T {
  let cache = caches.get(prep);
  if (!cache) caches.set(prep, cache = new Map());
  if (!cache.has(key)) cache.set(key, f());
  return cache.get(key) as T;
}

/**
 * Stall flags of every decode token of a prepared trace under the stall rule
 * (`flagStalls()`), computed once per prepared trace and threshold.
 */
export function stallFlags(prep: PreparedTrace, threshold: number = STALL_THRESHOLD): StallFlags {
  return memo(
    prep,
    `stalls:${threshold}`,
    () => flagStalls(prep.tokens.latencyMs, prep.tokens.run, { threshold, runs: prep.runs.count }),
  );
}

/**
 * Computes (once per prepared trace) `SlopeStats` for every run, leaving out stalls when
 * `excludeStalls` (the start of decode still counts every token).
 */
export function slopeStats(prep: PreparedTrace, excludeStalls: boolean): SlopeStats {
  return memo(prep, `slope:${excludeStalls}`, () => {
    const r = prep.runs.count;
    const s: SlopeStats = {
      n: new Float64Array(r),
      sx: new Float64Array(r),
      sy: new Float64Array(r),
      sxx: new Float64Array(r),
      sxy: new Float64Array(r),
      ref: new Float64Array(r).fill(Number.NaN),
      xStart: new Float64Array(r).fill(Infinity),
    };
    const { run, position, latencyMs, count } = prep.tokens;
    const skip = excludeStalls ? stallFlags(prep).flags : null;
    for (let t = 0; t < count; t++) {
      const i = run[t]!;
      let ref = s.ref[i]!;
      if (Number.isNaN(ref)) ref = s.ref[i] = position[t]!;
      const x = position[t]! - ref;
      if (x < s.xStart[i]!) s.xStart[i] = x;
      if (skip && skip[t] === 1) continue;
      const y = latencyMs[t]!;
      s.n[i]!++;
      s.sx[i]! += x;
      s.sy[i]! += y;
      s.sxx[i]! += x * x;
      s.sxy[i]! += x * y;
    }
    return s;
  });
}

/**
 * Token-level columns of `FullStats`, in order. Character classes are dummies against
 * `letters`; `position` and `latency` are centred on their means over all decode tokens.
 */
export const FULL_COLUMNS: readonly string[] = [
  "one",
  "position",
  "piece_bytes",
  "digits",
  "punctuation",
  "whitespace",
  "non-ascii",
  "mixed",
  "word_initial",
  "id_rank",
  "latency",
];

/** Index of the first token-content column in `FULL_COLUMNS`. */
export const CONTENT_FIRST = 2;
/** Index of the last token-content column in `FULL_COLUMNS`. */
export const CONTENT_LAST = 9;

/** Per-run packed cross-products of `FULL_COLUMNS`. */
export interface FullStats {
  /** Number of columns (`FULL_COLUMNS.length`). */
  p: number;
  /** Packed entries per run. */
  q: number;
  /** `runs * q` packed upper triangles, run after run. */
  packed: Float64Array;
  /** Mean position subtracted from `position`. */
  meanPosition: number;
  /** Mean latency subtracted from `latency` (ms). */
  meanLatency: number;
}

/**
 * Computes (once per prepared trace) the per-run cross-products of `FULL_COLUMNS`, leaving
 * out stalls when `excludeStalls`.
 */
export function fullStats(prep: PreparedTrace, excludeStalls: boolean): FullStats {
  return memo(prep, `full:${excludeStalls}`, () => computeFull(prep, excludeStalls));
}

function computeFull(prep: PreparedTrace, excludeStalls: boolean): FullStats {
  const skip = excludeStalls ? stallFlags(prep).flags : null;
  const p = FULL_COLUMNS.length;
  const q = packedSize(p);
  const { run, position, latencyMs, pieceBytes, charClass, wordInitial, idRank, count } =
    prep.tokens;
  let mp = 0, my = 0;
  for (let t = 0; t < count; t++) {
    mp += position[t]!;
    my += latencyMs[t]!;
  }
  mp = count > 0 ? mp / count : 0;
  my = count > 0 ? my / count : 0;
  const packed = new Float64Array(prep.runs.count * q);
  const rowStart = Int32Array.from({ length: p }, (_, a) => packedIndex(a, a, p));
  const v = new Float64Array(p);
  for (let t = 0; t < count; t++) {
    if (skip && skip[t] === 1) continue;
    v.fill(0, 3, 8);
    v[0] = 1;
    v[1] = position[t]! - mp;
    v[2] = pieceBytes[t]!;
    const c = charClass[t]!;
    if (c > 0) v[2 + c] = 1;
    v[8] = wordInitial[t]!;
    v[9] = idRank[t]!;
    v[10] = latencyMs[t]! - my;
    const base = run[t]! * q;
    for (let a = 0; a < p; a++) {
      const va = v[a]!;
      if (va === 0) continue;
      const off = base + rowStart[a]! - a;
      for (let b = a; b < p; b++) packed[off + b]! += va * v[b]!;
    }
  }
  return { p, q, packed, meanPosition: mp, meanLatency: my };
}

/**
 * Writer of one run's within-run (fixed-effects) cross-products of `FULL_COLUMNS` without
 * `one`, `T_i - s_i s_i' / n_i`, as a packed (p-1) x (p-1) triangle followed by the run's token
 * count (width `packedSize(p - 1) + 1`); for `weightedSums()`.
 */
export function withinWriter(
  stats: FullStats,
  units: Int32Array,
): (u: number, out: Float64Array) => void {
  const { p, q, packed } = stats;
  return (u, out) => {
    const base = units[u]! * q;
    const n = packed[base]!;
    let idx = 0, k = 0;
    for (let a = 0; a < p; a++) {
      const sa = packed[base + a]!;
      for (let b = a; b < p; b++, idx++) {
        if (a === 0) continue;
        out[k++] = packed[base + idx]! - (sa * packed[base + b]!) / n;
      }
    }
    out[k] = n;
  };
}

/** Per-unit centred sums of the within-run slowdown fit, one entry per unit. */
export interface WithinSums {
  /** Centred sum of squares of x, `sxx - sx^2 / n`. */
  readonly wxx: Float64Array;
  /** Centred cross-product of x and latency, `sxy - sx sy / n`. */
  readonly wxy: Float64Array;
  /** Mean latency, ms. */
  readonly ybar: Float64Array;
  /** Mean x (position minus the run's reference). */
  readonly xbar: Float64Array;
}

/** Centred per-unit sums of `s` for the runs `units` (unit u is run `units[u]`). */
export function withinSums(s: SlopeStats, units: ArrayLike<number>): WithinSums {
  const U = units.length;
  const out = {
    wxx: new Float64Array(U),
    wxy: new Float64Array(U),
    ybar: new Float64Array(U),
    xbar: new Float64Array(U),
  };
  for (let u = 0; u < U; u++) {
    const i = units[u]!;
    const n = s.n[i]!;
    out.wxx[u] = s.sxx[i]! - (s.sx[i]! * s.sx[i]!) / n;
    out.wxy[u] = s.sxy[i]! - (s.sx[i]! * s.sy[i]!) / n;
    out.ybar[u] = s.sy[i]! / n;
    out.xbar[u] = s.sx[i]! / n;
  }
  return out;
}

/** Indices of runs with at least one decode token, optionally leaving out warm-up runs. */
export function eligibleRuns(prep: PreparedTrace, includeWarmup: boolean): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < prep.runs.count; i++) {
    if (prep.runs.decodeTokens[i]! > 0 && (includeWarmup || prep.runs.warmup[i] === 0)) out.push(i);
  }
  return Int32Array.from(out);
}

/** What an analysis needs of its runs, for {@linkcode requireRuns}. */
export interface RunRequirement {
  /** Start of the error message, e.g. `Cannot detect stalls`. */
  readonly action: string;
  /**
   * Runs needed.
   *
   * @default {1}
   */
  readonly min?: number;
  /**
   * What counts as a run, in the singular; its first "run" becomes "runs" when `min` > 1.
   *
   * @default {"run with decode tokens"}
   */
  readonly run?: string;
}

/**
 * Returns `units` when it holds at least `min` runs; otherwise throws a RangeError such as
 * `Cannot detect stalls: the trace must have a run with decode tokens, found none` (or
 * `... at least 3 runs with decode tokens, found 2`).
 */
export function requireRuns<T extends ArrayLike<number>>(units: T, need: RunRequirement): T {
  const { action, min = 1, run = "run with decode tokens" } = need;
  if (units.length >= min) return units;
  const what = min === 1 ? `a ${run}` : `at least ${min} ${run.replace("run", "runs")}`;
  throw new RangeError(
    `${action}: the trace must have ${what}, found ${min === 1 ? "none" : units.length}`,
  );
}

/** Which runs an analysis uses, for {@linkcode decodeRuns}, {@linkcode slopeRuns} and {@linkcode fullRuns}. */
export interface RunSelection {
  /**
   * Keep warm-up runs.
   *
   * @default {false}
   */
  readonly includeWarmup?: boolean;
  /**
   * Leave stall tokens out of the per-run sums, so a run needs a decode token that is not a
   * stall (`slopeRuns()` and `fullRuns()`).
   *
   * @default {false}
   */
  readonly excludeStalls?: boolean;
  /**
   * Fewest decode tokens a run needs (`decodeRuns()`).
   *
   * @default {1}
   */
  readonly minTokens?: number;
  /** Throws unless enough runs are left (see {@linkcode requireRuns}); without it, no check. */
  readonly require?: RunRequirement;
}

/** Prepares `input` and selects its runs with at least `minTokens` decode tokens. */
export function decodeRuns(
  input: AnalysisInput,
  selection: RunSelection = {},
): { prep: PreparedTrace; units: Int32Array } {
  const { includeWarmup = false, minTokens = 1, require } = selection;
  const prep = prepareTrace(input);
  let units = eligibleRuns(prep, includeWarmup);
  if (minTokens > 1) units = units.filter((i) => prep.runs.decodeTokens[i]! >= minTokens);
  return { prep, units: require ? requireRuns(units, require) : units };
}

/** Prepares `input`, its per-run slope sums, and the runs with a token in those sums. */
export function slopeRuns(
  input: AnalysisInput,
  selection: RunSelection = {},
): { prep: PreparedTrace; stats: SlopeStats; units: Int32Array } {
  return withStats(input, selection, slopeStats, (s, i) => s.n[i]!);
}

/** Prepares `input`, its full per-run sums, and the runs with a token in those sums. */
export function fullRuns(
  input: AnalysisInput,
  selection: RunSelection = {},
): { prep: PreparedTrace; stats: FullStats; units: Int32Array } {
  return withStats(input, selection, fullStats, (s, i) => s.packed[i * s.q]!);
}

function withStats<T>(
  input: AnalysisInput,
  selection: RunSelection,
  statsOf: (prep: PreparedTrace, excludeStalls: boolean) => T,
  tokensOf: (stats: T, run: number) => number,
): { prep: PreparedTrace; stats: T; units: Int32Array } {
  const { includeWarmup = false, excludeStalls = false, require } = selection;
  const prep = prepareTrace(input);
  const stats = statsOf(prep, excludeStalls);
  const units = eligibleRuns(prep, includeWarmup).filter((i) => tokensOf(stats, i) > 0);
  return { prep, stats, units: require ? requireRuns(units, require) : units };
}
