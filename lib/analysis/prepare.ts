/**
 * Extracts the columns the analysis needs from a trace into typed arrays, once: decode
 * tokens (token_index >= 1) with their run index and token-content features, and one entry
 * per run and per session.
 *
 * @module
 */

import pl from "nodejs-polars";
import { frameColumns, lazyPolars } from "../schema/_polars.ts";
import type { Trace, TraceTable } from "./types.ts";

/** Character classes of a token piece, in the order of `PreparedTokens.charClass` codes. */
export const CHAR_CLASSES = [
  "letters",
  "digits",
  "punctuation",
  "whitespace",
  "non-ascii",
  "mixed",
] as const;

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
  const classNames = runsDf.getColumn("prompt_class").toArray() as string[];
  const classes = [...new Set(classNames)].sort();
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const f64 = (name: string): Float64Array =>
    Float64Array.from(runsDf.getColumn(name).toTypedArray());

  // Decode rows (token_index >= 1, phase "decode" by the schema) with their run index joined
  // in Polars; the strings (run_id, piece) never cross into JS per row. Rows of a run the
  // trace lacks are kept (run index -1) to be reported.
  const runIndex = new Map(runId.map((id, i) => [id, i]));
  const runKey = pl.DataFrame([
    pl.Series("run_id", [...runIndex.keys()], pl.String),
    pl.Series("__run", Int32Array.from(runIndex.values())),
  ]);
  const tokensLazy = lazyTable(trace.tokens, "tokens", TOKEN_COLUMNS)
    .select(
      pl.col("run_id").cast(pl.String),
      pl.col("token_index").cast(pl.Int32),
      pl.col("position").cast(pl.Int32),
      pl.col("token_id").cast(pl.Int32),
      pl.col("piece").cast(pl.String),
      pl.col("piece_bytes").cast(pl.Int32),
      pl.col("latency_ms").cast(pl.Float64),
    )
    .join(runKey.lazy(), { on: "run_id", how: "left", maintainOrder: "left" });
  const tokensDf = tokensLazy
    .filter(pl.col("token_index").gtEq(1).or(pl.col("__run").isNull()))
    .select(
      pl.col("__run").fillNull(-1).cast(pl.Int32),
      "token_index",
      "position",
      "token_id",
      pl.col("piece").cast(pl.Categorical),
      "piece_bytes",
      "latency_ms",
    )
    .collectSync();
  const run = column(tokensDf, "__run") as Int32Array;
  if (run.includes(-1)) {
    const missing = tokensLazy.filter(pl.col("__run").isNull()).select("run_id").head(1)
      .collectSync().getColumn("run_id").get(0);
    throw new RangeError(
      `Cannot prepare trace: every token row must belong to a run of the trace, found run "${missing}"`,
    );
  }
  const n = run.length;
  const tokens: PreparedTokens = {
    count: n,
    run,
    tokenIndex: column(tokensDf, "token_index") as Int32Array,
    position: column(tokensDf, "position") as Int32Array,
    latencyMs: column(tokensDf, "latency_ms") as Float64Array,
    pieceBytes: column(tokensDf, "piece_bytes") as Int32Array,
    charClass: new Uint8Array(n),
    wordInitial: new Uint8Array(n),
    idRank: new Float32Array(n),
  };
  const decodeTokens = new Int32Array(nRuns);
  for (let k = 0; k < n; k++) decodeTokens[run[k]!]!++;
  {
    // piece features, computed once per distinct piece (categorical code -> piece)
    const distinct = tokensDf.select(pl.col("piece").unique()).select(
      pl.col("piece").toPhysical().alias("code"),
      pl.col("piece").cast(pl.String),
    );
    const codes = distinct.getColumn("code").toTypedArray() as Uint32Array;
    const pieces = distinct.getColumn("piece").toArray() as string[];
    let max = -1;
    for (const c of codes) if (c > max) max = c;
    const pieceClass = new Uint8Array(max + 1);
    const pieceInitial = new Uint8Array(max + 1);
    for (let i = 0; i < codes.length; i++) {
      pieceClass[codes[i]!] = CHAR_CLASSES.indexOf(classifyPiece(pieces[i]!));
      pieceInitial[codes[i]!] = pieces[i]!.startsWith(" ") ? 1 : 0;
    }
    const pieceCode = column(tokensDf.select(pl.col("piece").toPhysical()), "piece") as Uint32Array;
    for (let k = 0; k < n; k++) {
      const pc = pieceCode[k]!;
      tokens.charClass[k] = pieceClass[pc]!;
      tokens.wordInitial[k] = pieceInitial[pc]!;
    }
  }
  {
    const tokenId = column(tokensDf, "token_id") as Int32Array;
    let maxId = 0;
    for (let k = 0; k < n; k++) if (tokenId[k]! > maxId) maxId = tokenId[k]!;
    const rankOf = new Float64Array(maxId + 1);
    for (let k = 0; k < n; k++) rankOf[tokenId[k]!] = 1;
    let distinct = 0;
    for (let id = 0; id <= maxId; id++) if (rankOf[id] === 1) rankOf[id] = distinct++;
    const scale = distinct > 1 ? 1 / (distinct - 1) : 0;
    for (let k = 0; k < n; k++) tokens.idRank[k] = rankOf[tokenId[k]!]! * scale;
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

function column(df: pl.DataFrame, name: string): Int32Array | Uint32Array | Float64Array {
  return df.getColumn(name).toTypedArray();
}

/** A table as a lazy frame, after checking it has the needed columns. */
function lazyTable(table: TraceTable, name: string, needed: readonly string[]): pl.LazyDataFrame {
  const what = `the ${name} table of the trace`;
  const have = new Set(frameColumns(table, what));
  const missing = needed.find((c) => !have.has(c));
  if (missing !== undefined) {
    throw new TypeError(
      `Cannot prepare trace: the ${name} table must have column "${missing}", found none`,
    );
  }
  return lazyPolars(table, what);
}

function collect(
  table: TraceTable,
  name: string,
  needed: readonly string[],
  select: pl.Expr[],
): pl.DataFrame {
  return lazyTable(table, name, needed).select(...select).collectSync();
}
