/**
 * Extracts the columns the analysis needs from a trace into typed arrays, once: decode
 * tokens (token_index >= 1) with their run index and token-content features, and one entry
 * per run and per session.
 *
 * @module
 */

import pl from "nodejs-polars";
import { frameColumns, lazyPolars } from "../_polars.ts";
import type { Trace, TraceTable } from "./types.ts";

/** Character classes of a token piece, in the order of `PreparedTokens.charClass` codes. */
export const CHAR_CLASSES: readonly [
  "letters",
  "digits",
  "punctuation",
  "whitespace",
  "non-ascii",
  "mixed",
] = [
  "letters",
  "digits",
  "punctuation",
  "whitespace",
  "non-ascii",
  "mixed",
];

/** A character class of a token piece (see `classifyPiece()`). */
export type CharClass = (typeof CHAR_CLASSES)[number];

/** One entry per session, in `session_id` order. */
export interface PreparedSessions {
  /** Number of sessions. */
  readonly count: number;
  /** `session_id` of each session. */
  readonly sessionId: readonly string[];
  /** `model_tensor_bytes` of each session. */
  readonly modelTensorBytes: Float64Array;
}

/** One entry per run, sorted by session then `order_index`. */
export interface PreparedRuns {
  /** Number of runs. */
  readonly count: number;
  /** `run_id` of each run. */
  readonly runId: readonly string[];
  /** Index of the run's session in `PreparedSessions`. */
  readonly session: Int32Array;
  /** `order_index`. */
  readonly orderIndex: Int32Array;
  /** `repetition`. */
  readonly repetition: Int32Array;
  /** 1 for a warm-up run, else 0. */
  readonly warmup: Uint8Array;
  /** `prompt_id`. */
  readonly promptId: readonly string[];
  /** Index of the run's `prompt_class` in `PreparedTrace.classes`. */
  readonly promptClass: Int32Array;
  /** `prompt_tokens`. */
  readonly promptTokens: Float64Array;
  /** `depth_tokens`. */
  readonly depthTokens: Float64Array;
  /** `output_tokens`. */
  readonly outputTokens: Float64Array;
  /** `started_at_ms`. */
  readonly startedAtMs: Float64Array;
  /** `ttft_ms`. */
  readonly ttftMs: Float64Array;
  /** `decode_ms`. */
  readonly decodeMs: Float64Array;
  /** `total_ms`. */
  readonly totalMs: Float64Array;
  /** Number of decode token rows the run has in the tokens table. */
  readonly decodeTokens: Int32Array;
}

/** Decode tokens (`token_index >= 1`, i.e. phase `decode`), in tokens-table order. */
export interface PreparedTokens {
  /** Number of decode tokens. */
  readonly count: number;
  /** Index of the token's run in `PreparedRuns`. */
  readonly run: Int32Array;
  /** `token_index` (from 1). */
  readonly tokenIndex: Int32Array;
  /** `position` (context position). */
  readonly position: Int32Array;
  /** `latency_ms`. */
  readonly latencyMs: Float64Array;
  /** `piece_bytes`. */
  readonly pieceBytes: Int32Array;
  /** Code of the piece's character class in `CHAR_CLASSES`. */
  readonly charClass: Uint8Array;
  /** 1 when the piece starts with a space (a word-initial piece), else 0. */
  readonly wordInitial: Uint8Array;
  /** Dense rank of `token_id` among the distinct ids in the trace, scaled to [0, 1]. */
  readonly idRank: Float32Array;
}

/** A trace extracted into typed arrays; every analysis function accepts it in place of a trace. */
export interface PreparedTrace {
  /** Marks a prepared trace. */
  readonly kind: "prepared-trace";
  /** Prompt classes, sorted; `PreparedRuns.promptClass` indexes this list. */
  readonly classes: readonly string[];
  /** Sessions. */
  readonly sessions: PreparedSessions;
  /** Runs. */
  readonly runs: PreparedRuns;
  /** Decode tokens. */
  readonly tokens: PreparedTokens;
}

/** Either form the analysis functions accept. */
export type AnalysisInput = Trace | PreparedTrace;

const SESSION_COLUMNS = ["session_id", "model_tensor_bytes"];
/** Run columns read as float64. */
const RUN_FLOAT_COLUMNS = [
  "prompt_tokens",
  "depth_tokens",
  "output_tokens",
  "started_at_ms",
  "ttft_ms",
  "decode_ms",
  "total_ms",
];
const RUN_COLUMNS = [
  "session_id",
  "run_id",
  "order_index",
  "repetition",
  "warmup",
  "prompt_id",
  "prompt_class",
  ...RUN_FLOAT_COLUMNS,
];
const TOKEN_COLUMNS = [
  "run_id",
  "token_index",
  "position",
  "token_id",
  "piece",
  "piece_bytes",
  "latency_ms",
];

/**
 * Classifies a token piece: `non-ascii` if it has any character above U+007F (or is empty,
 * as pieces of an incomplete UTF-8 sequence are), `whitespace` if it is only whitespace,
 * else by its non-whitespace characters: all ASCII letters `letters`, all digits `digits`,
 * all other printable ASCII `punctuation`, anything else `mixed`.
 *
 * @param piece The token's text.
 * @returns Its character class.
 *
 * @example Classify a few pieces
 * ```ts
 * import { classifyPiece } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(classifyPiece(" classification"), "letters");
 * assert.equal(classifyPiece("42"), "digits");
 * assert.equal(classifyPiece(" ,"), "punctuation");
 * assert.equal(classifyPiece("\n\n"), "whitespace");
 * assert.equal(classifyPiece(" café"), "non-ascii");
 * assert.equal(classifyPiece("x2"), "mixed");
 * ```
 */
export function classifyPiece(piece: string): CharClass {
  if (piece.length === 0) return "non-ascii";
  let letters = 0, digits = 0, punct = 0, other = 0;
  for (let i = 0; i < piece.length; i++) {
    const c = piece.charCodeAt(i);
    if (c > 0x7f) return "non-ascii";
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) continue;
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) letters++;
    else if (c >= 0x30 && c <= 0x39) digits++;
    else if (c > 0x20 && c < 0x7f) punct++;
    else other++;
  }
  const n = letters + digits + punct + other;
  if (n === 0) return "whitespace";
  if (letters === n) return "letters";
  if (digits === n) return "digits";
  if (punct === n) return "punctuation";
  return "mixed";
}

/** True when `input` is a `PreparedTrace`. */
export function isPrepared(input: AnalysisInput): input is PreparedTrace {
  return (input as PreparedTrace).kind === "prepared-trace";
}

/**
 * Extracts a trace into typed arrays (see `PreparedTrace`). Analysis functions call this
 * themselves; call it once yourself to run several analyses on a large trace without
 * extracting it again. Reads only the needed columns (lazy frames are projected before
 * collecting); decode tokens are the rows with `token_index >= 1`.
 *
 * @param trace The dataset tables.
 * @returns The prepared trace (returned as is when already prepared).
 * @throws {TypeError} When a table lacks a needed column.
 * @throws {RangeError} When a token row names a run, or a run a session, that the trace lacks.
 *
 * @example Prepare a simulated trace
 * ```ts
 * import { prepareTrace, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const prepared = prepareTrace(simulateTrace({ repetitions: 2 }));
 * assert.equal(prepared.runs.count, 9);
 * assert.equal(prepared.tokens.count, 9 * 49);
 * ```
 */
export function prepareTrace(trace: AnalysisInput): PreparedTrace {
  if (isPrepared(trace)) return trace;
  const sessionsDf = collect(trace.sessions, "sessions", SESSION_COLUMNS, [
    pl.col("session_id"),
    pl.col("model_tensor_bytes").cast(pl.Float64),
  ]).sort("session_id");
  const runsDf = collect(trace.runs, "runs", RUN_COLUMNS, [
    pl.col("session_id"),
    pl.col("run_id"),
    pl.col("order_index").cast(pl.Int32),
    pl.col("repetition").cast(pl.Int32),
    pl.col("warmup").cast(pl.UInt8),
    pl.col("prompt_id"),
    pl.col("prompt_class"),
    ...RUN_FLOAT_COLUMNS.map((c) => pl.col(c).cast(pl.Float64)),
  ]).sort(["session_id", "order_index"]);

  const sessionId = sessionsDf.getColumn("session_id").toArray() as string[];
  const sessionIndex = new Map(sessionId.map((id, i) => [id, i]));
  const runId = runsDf.getColumn("run_id").toArray() as string[];
  const runSessionIds = runsDf.getColumn("session_id").toArray() as string[];
  const nRuns = runId.length;
  const session = new Int32Array(nRuns);
  for (let i = 0; i < nRuns; i++) {
    const s = sessionIndex.get(runSessionIds[i]!);
    if (s === undefined) {
      throw new RangeError(
        `Cannot prepare trace: every run must belong to a session of the trace, run "${
          runId[i]
        }" names session "${runSessionIds[i]}"`,
      );
    }
    session[i] = s;
  }
  const runIndex = new Map(runId.map((id, i) => [id, i]));
  const classNames = runsDf.getColumn("prompt_class").toArray() as string[];
  const classes = [...new Set(classNames)].sort();
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const f64 = (name: string): Float64Array =>
    Float64Array.from(runsDf.getColumn(name).toTypedArray());

  const tokensDf = collect(trace.tokens, "tokens", TOKEN_COLUMNS, [
    pl.col("run_id").cast(pl.Categorical).toPhysical().alias("run_code"),
    pl.col("run_id"),
    pl.col("token_index").cast(pl.Int32),
    pl.col("position").cast(pl.Int32),
    pl.col("token_id").cast(pl.Int32),
    pl.col("piece").cast(pl.Categorical).toPhysical().alias("piece_code"),
    pl.col("piece"),
    pl.col("piece_bytes").cast(pl.Int32),
    pl.col("latency_ms").cast(pl.Float64),
  ]);

  // run codes -> run indices
  const codeToRun = codeTable(tokensDf, "run_code", "run_id", (id) => {
    const r = runIndex.get(id);
    if (r === undefined) {
      throw new RangeError(
        `Cannot prepare trace: every token row must belong to a run of the trace, found run "${id}"`,
      );
    }
    return r;
  });
  // piece codes -> features
  const pieceClass = codeTable(
    tokensDf,
    "piece_code",
    "piece",
    (p) => CHAR_CLASSES.indexOf(classifyPiece(p)),
  );
  const pieceInitial = codeTable(
    tokensDf,
    "piece_code",
    "piece",
    (p) => (p.startsWith(" ") ? 1 : 0),
  );

  // decode rows: token_index >= 1 (phase "decode" by the schema)
  const tokenIndexAll = column(tokensDf, "token_index") as Int32Array;
  const rows = tokenIndexAll.length;
  let n = 0;
  for (let i = 0; i < rows; i++) if (tokenIndexAll[i]! >= 1) n++;
  const keep = new Int32Array(n);
  for (let i = 0, k = 0; i < rows; i++) if (tokenIndexAll[i]! >= 1) keep[k++] = i;
  const pick = <T extends Int32Array | Float64Array | Uint32Array>(all: T, out: T): T => {
    for (let k = 0; k < n; k++) out[k] = all[keep[k]!]!;
    return out;
  };
  const tokens: PreparedTokens = {
    count: n,
    run: new Int32Array(n),
    tokenIndex: pick(tokenIndexAll, new Int32Array(n)),
    position: pick(column(tokensDf, "position") as Int32Array, new Int32Array(n)),
    latencyMs: pick(column(tokensDf, "latency_ms") as Float64Array, new Float64Array(n)),
    pieceBytes: pick(column(tokensDf, "piece_bytes") as Int32Array, new Int32Array(n)),
    charClass: new Uint8Array(n),
    wordInitial: new Uint8Array(n),
    idRank: new Float32Array(n),
  };
  const decodeTokens = new Int32Array(nRuns);
  {
    const runCode = column(tokensDf, "run_code") as Uint32Array;
    for (let k = 0; k < n; k++) {
      const r = codeToRun[runCode[keep[k]!]!]!;
      tokens.run[k] = r;
      decodeTokens[r]!++;
    }
  }
  {
    const pieceCode = column(tokensDf, "piece_code") as Uint32Array;
    for (let k = 0; k < n; k++) {
      const pc = pieceCode[keep[k]!]!;
      tokens.charClass[k] = pieceClass[pc]!;
      tokens.wordInitial[k] = pieceInitial[pc]!;
    }
  }
  {
    const tokenId = column(tokensDf, "token_id") as Int32Array;
    let maxId = 0;
    for (let k = 0; k < n; k++) if (tokenId[keep[k]!]! > maxId) maxId = tokenId[keep[k]!]!;
    const rankOf = new Float64Array(maxId + 1);
    for (let k = 0; k < n; k++) rankOf[tokenId[keep[k]!]!] = 1;
    let distinct = 0;
    for (let id = 0; id <= maxId; id++) if (rankOf[id] === 1) rankOf[id] = distinct++;
    const scale = distinct > 1 ? 1 / (distinct - 1) : 0;
    for (let k = 0; k < n; k++) tokens.idRank[k] = rankOf[tokenId[keep[k]!]!]! * scale;
  }

  const runs: PreparedRuns = {
    count: nRuns,
    runId,
    session,
    orderIndex: runsDf.getColumn("order_index").toTypedArray() as Int32Array,
    repetition: runsDf.getColumn("repetition").toTypedArray() as Int32Array,
    warmup: runsDf.getColumn("warmup").toTypedArray() as Uint8Array,
    promptId: runsDf.getColumn("prompt_id").toArray() as string[],
    promptClass: Int32Array.from(classNames, (c) => classIndex.get(c)!),
    promptTokens: f64("prompt_tokens"),
    depthTokens: f64("depth_tokens"),
    outputTokens: f64("output_tokens"),
    startedAtMs: f64("started_at_ms"),
    ttftMs: f64("ttft_ms"),
    decodeMs: f64("decode_ms"),
    totalMs: f64("total_ms"),
    decodeTokens,
  };
  return {
    kind: "prepared-trace",
    classes,
    sessions: {
      count: sessionId.length,
      sessionId,
      modelTensorBytes: Float64Array.from(
        sessionsDf.getColumn("model_tensor_bytes").toTypedArray(),
      ),
    },
    runs,
    tokens,
  };
}

/** Maps each code of `codeCol` to `f` of its value in `valueCol` (one row per code). */
function codeTable(
  df: pl.DataFrame,
  codeCol: string,
  valueCol: string,
  f: (value: string) => number,
): Int32Array {
  const table = df.groupBy(codeCol).agg(pl.col(valueCol).first());
  const codes = table.getColumn(codeCol).toTypedArray() as Uint32Array;
  const values = table.getColumn(valueCol).toArray() as string[];
  let max = -1;
  for (const c of codes) if (c > max) max = c;
  const out = new Int32Array(max + 1);
  for (let k = 0; k < codes.length; k++) out[codes[k]!] = f(values[k]!);
  return out;
}

function column(df: pl.DataFrame, name: string): Int32Array | Uint32Array | Float64Array {
  return df.getColumn(name).toTypedArray();
}

function collect(
  table: TraceTable,
  name: string,
  needed: readonly string[],
  select: pl.Expr[],
): pl.DataFrame {
  const what = `the ${name} table of the trace`;
  const have = new Set(frameColumns(table, what));
  const missing = needed.find((c) => !have.has(c));
  if (missing !== undefined) {
    throw new TypeError(
      `Cannot prepare trace: the ${name} table must have column "${missing}", found none`,
    );
  }
  return lazyPolars(table, what).select(...select).collectSync();
}
