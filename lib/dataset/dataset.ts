/**
 * The trace dataset on disk: a writer that keeps every finished run safe on disk as it goes
 * and merges a session's per-run files into one range file pair when it finishes, and a reader
 * that returns the three tables as Polars frames, refusing foreign or corrupt files.
 *
 * @module
 */

import pl from "nodejs-polars";
import { TOOL_VERSION } from "../schema/_env.ts";
import type { Frame, LazyFrame } from "../schema/frame.ts";
import { LAYOUT, SCHEMA, SCHEMA_VERSION, type TableName } from "../schema/schema.ts";
import type { RunSummary, SessionInfo, TokenColumns } from "../tracer/source.ts";
import { OLDEST_UPGRADABLE_VERSION, upgradeTable } from "./upgrade.ts";

/** Session status in the `sessions` table. */
export type SessionStatus = "running" | "complete" | "interrupted";

/** One row of the `sessions` table. */
export interface SessionRow extends SessionInfo {
  /** Session identifier, `YYYYMMDDTHHMMSSZ-<6 hex>`. */
  session_id: string;
  /** Dataset schema version. */
  schema_version: number;
  /** tokentrace version. */
  tool_version: string;
  /** `running`, `complete` or `interrupted`. */
  status: SessionStatus;
  /** Session start, RFC 3339 UTC. */
  started_at_utc: string;
  /** Session end, RFC 3339 UTC; empty while running. */
  finished_at_utc: string;
  /** Experiment suite name or path. */
  suite: string;
  /** Experiment seed. */
  seed: number;
  /** The plan as JSON; empty without one. */
  plan_json: string;
}

/** One row of the `runs` table. */
export interface RunRow extends RunSummary {
  /** Session the run belongs to. */
  session_id: string;
  /** Run identifier, `<session_id>-<order_index:6>`. */
  run_id: string;
  /** Position of the run in the session, from 0. */
  order_index: number;
  /** Repetition of this prompt and setting, from 0. */
  repetition: number;
  /** True for a warm-up run. */
  warmup: boolean;
}

/** What a caller gives {@linkcode DatasetWriter.writeRun}: a runs row without the ids the writer sets. */
export type RunRecord = Omit<RunRow, "session_id" | "run_id">;

/** Options of {@linkcode DatasetWriter.create}. */
export interface CreateSessionOptions {
  /**
   * Experiment suite name or path.
   * @default {""}
   */
  suite?: string;
  /**
   * Experiment seed.
   * @default {0}
   */
  seed?: number;
  /**
   * The experiment plan (any JSON value): written to `plan.json` and the `plan_json` column.
   * @default {undefined}
   */
  plan?: unknown;
}

/**
 * The three tables of a dataset, with exactly the columns of {@linkcode SCHEMA}. At run time
 * they are nodejs-polars frames (cast to `pl.DataFrame` / `pl.LazyDataFrame` for the whole
 * Polars API).
 */
export interface Dataset {
  /** One row per session. */
  sessions: Frame;
  /** One row per finished run. */
  runs: Frame;
  /** One row per token of a finished run, scanned lazily. */
  tokens: LazyFrame;
}

/** A dataset file that tokentrace refuses to read: foreign, corrupt or of another schema version. */
export class DatasetError extends Error {
  /** The file or directory at fault. */
  readonly path: string;

  /**
   * Makes an error about a dataset file.
   *
   * @param message What is wrong, in one line.
   * @param path The file or directory at fault.
   */
  constructor(message: string, path: string) {
    super(message);
    this.name = "DatasetError";
    this.path = path;
  }
}

const DTYPES = {
  utf8: pl.String,
  int32: pl.Int32,
  int64: pl.Int64,
  float64: pl.Float64,
  bool: pl.Bool,
} as const;

/**
 * The Polars dtype of every column of a table, in file order, from {@linkcode SCHEMA}.
 * Internal to tokentrace (not exported from mod.ts): other modules import it from here.
 *
 * @param table The table.
 * @returns Column name to Polars dtype.
 *
 * @example The tokens table's latency column
 * ```ts
 * import { polarsSchema } from "./dataset.ts";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * assert.equal(String(polarsSchema("tokens").latency_ms), String(pl.Float64));
 * ```
 */
export function polarsSchema(table: TableName): Record<string, pl.DataType> {
  return Object.fromEntries(SCHEMA[table].map((col) => [col.name, DTYPES[col.type]]));
}

/** Values of one column: a typed array or a plain array. */
export type ColumnValues = ArrayLike<unknown>;

/**
 * Builds a table's DataFrame from columns: exactly the schema's columns, in schema order,
 * with the schema's dtypes. 64-bit integer columns take plain numbers. Internal to tokentrace
 * (not exported from mod.ts): other modules import it from here.
 *
 * @param table The table.
 * @param columns One entry per schema column, all of the same length.
 * @returns The DataFrame.
 * @throws {TypeError} When a column is missing or not in the schema, or lengths differ.
 *
 * @example One tokens row
 * ```ts
 * import { tableFrame } from "./dataset.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = tableFrame("tokens", {
 *   session_id: ["s"], run_id: ["s-000000"], token_index: [0], position: [12],
 *   phase: ["prefill"], token_id: [42], piece: [" hi"], piece_bytes: [3],
 *   t_ms: [20.5], latency_ms: [20.5], chunk_tokens: [1],
 * });
 * assert.equal(frame.height, 1);
 * assert.equal(frame.columns[0], "session_id");
 * ```
 */
export function tableFrame(table: TableName, columns: Record<string, ColumnValues>): pl.DataFrame {
  const names = new Set(SCHEMA[table].map((col) => col.name));
  const extra = Object.keys(columns).find((name) => !names.has(name));
  if (extra !== undefined) {
    throw new TypeError(`Cannot build the ${table} table: column "${extra}" is not in the schema`);
  }
  let height: number | undefined;
  const series = SCHEMA[table].map((col) => {
    const values = columns[col.name];
    if (values === undefined) {
      throw new TypeError(`Cannot build the ${table} table: column "${col.name}" is missing`);
    }
    height ??= values.length;
    if (values.length !== height) {
      throw new TypeError(
        `Cannot build the ${table} table: column "${col.name}" has ${values.length} values, expected ${height}`,
      );
    }
    // A typed Series turns null into 0: build columns holding nulls untyped, then cast.
    const list = values as unknown[];
    return Array.prototype.some.call(list, (v) => v === null)
      ? pl.Series(col.name, list).cast(DTYPES[col.type])
      : pl.Series(col.name, list, DTYPES[col.type]);
  });
  return pl.DataFrame(series);
}

/** A one-row frame from a row object holding every schema column (and possibly more fields). */
function rowFrame(table: TableName, row: object): pl.DataFrame {
  const record = row as Record<string, unknown>;
  return tableFrame(
    table,
    Object.fromEntries(SCHEMA[table].map((col) => [col.name, [record[col.name]]])),
  );
}

const tmpName = (path: string): string => {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.tmp-${Deno.pid}`;
};

/** Writes a frame to `path` through a temporary name (never ending in .parquet) and a rename. */
async function writeAtomic(frame: pl.DataFrame, path: string): Promise<void> {
  const tmp = tmpName(path);
  try {
    frame.writeParquet(tmp, { compression: "zstd" });
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Runs a lazy query into `path` through a temporary name and a rename (streaming sink). */
async function sinkAtomic(query: pl.LazyDataFrame, path: string): Promise<void> {
  const tmp = tmpName(path);
  try {
    query.sinkParquet(tmp, { compression: "zstd" }).collectSync();
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

async function writeTextAtomic(text: string, path: string): Promise<void> {
  const tmp = tmpName(path);
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

const runIdOf = (sessionId: string, order: number): string =>
  `${sessionId}-${String(order).padStart(6, "0")}`;

/** Distinct values in first-seen order, and each value's index among them. */
function dictionaryEncode(values: ArrayLike<unknown>): { values: unknown[]; codes: Uint32Array } {
  const index = new Map<unknown, number>();
  const distinct: unknown[] = [];
  const codes = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    let code = index.get(value);
    if (code === undefined) {
      code = distinct.length;
      index.set(value, code);
      distinct.push(value);
    }
    codes[i] = code;
  }
  return { values: distinct, codes };
}

/**
 * The tokens table of many runs from their columns, as a query: `session_id` a literal, `run_id` joined
 * from `runIds` by each row's run index, string columns joined from their distinct values (a
 * million JS strings cost ~150 ms to convert one by one, their dictionary codes ~15 ms).
 */
function encodeTokens(
  sessionId: string,
  runIds: readonly string[],
  runIndex: Int32Array,
  tokens: TokenColumns,
): pl.LazyDataFrame {
  const n = runIndex.length;
  const columns = tokens as unknown as Record<string, ArrayLike<unknown> | undefined>;
  const own = SCHEMA.tokens.filter((col) => col.name !== "session_id" && col.name !== "run_id");
  const extra = Object.keys(columns).find((name) => !own.some((col) => col.name === name));
  if (extra !== undefined) {
    throw new TypeError(`Cannot build the tokens table: column "${extra}" is not in the schema`);
  }
  const series: pl.Series[] = [pl.Series("__run", runIndex)];
  const keys: pl.DataFrame[] = [
    pl.DataFrame([
      pl.Series("__run", Int32Array.from(runIds, (_, i) => i)),
      pl.Series("run_id", runIds as string[], pl.String),
    ]),
  ];
  for (const col of own) {
    const values = columns[col.name];
    if (values === undefined) {
      throw new TypeError(`Cannot build the tokens table: column "${col.name}" is missing`);
    }
    if (values.length !== n) {
      throw new TypeError(
        `Cannot build the tokens table: column "${col.name}" has ${values.length} values, expected ${n}`,
      );
    }
    if (col.type === "utf8") {
      const dict = dictionaryEncode(values);
      series.push(pl.Series(`__${col.name}`, dict.codes));
      keys.push(pl.DataFrame([
        pl.Series(`__${col.name}`, Uint32Array.from(dict.values, (_, i) => i)),
        pl.Series(col.name, dict.values, pl.String),
      ]));
    } else {
      series.push(pl.Series(col.name, values as unknown[], DTYPES[col.type]));
    }
  }
  let query: pl.LazyDataFrame = pl.DataFrame(series).lazy();
  for (const key of keys) {
    query = query.join(key.lazy(), { on: key.columns[0]!, how: "left", maintainOrder: "left" });
  }
  return query.select(
    ...SCHEMA.tokens.map((col) =>
      col.name === "session_id" ? pl.lit(sessionId).alias(col.name) : pl.col(col.name)
    ),
  );
}

function newSessionId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(3)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${stamp}-${hex}`;
}

/**
 * Writes one session of a dataset: `session.parquet` (status `running` until
 * {@linkcode DatasetWriter.finish}), then one tokens file and one runs file per run, each
 * through a temporary name and a rename, so a crash loses at most the run in flight.
 * {@linkcode DatasetWriter.writeRuns} writes many runs at once as one range file pair, and
 * {@linkcode DatasetWriter.finish} merges the per-run files into one (see
 * {@linkcode compactSession}).
 *
 * @example Write a session with one run
 * ```ts ignore
 * // Needs a model file for the session and the run.
 * import { DatasetWriter, openSession } from "@tokentrace/tokentrace";
 *
 * const session = await openSession("data/models/lfm2-350m-q8_0.gguf");
 * const writer = await DatasetWriter.create("data/traces", session.info, { suite: "demo" });
 * const run = await session.trace("Count 1 to 10", { maxTokens: 30 });
 * await writer.writeRun({ ...run.summary, order_index: 0, repetition: 0, warmup: false }, run.tokens);
 * await writer.finish("complete");
 * await session.close();
 * ```
 */
export class DatasetWriter {
  /** The session's identifier. */
  readonly sessionId: string;
  /** The session's directory, `<dataset>/session=<id>`. */
  readonly sessionDir: string;
  /** The plan given at creation (read back from `plan.json` on resume), or undefined. */
  readonly plan: unknown;
  readonly #dir: string;
  #row: SessionRow;
  readonly #finished: Set<number>;

  private constructor(dir: string, row: SessionRow, plan: unknown, finished: Set<number>) {
    this.#dir = dir;
    this.#row = row;
    this.sessionId = row.session_id;
    this.sessionDir = `${dir}/${LAYOUT.sessionDir(row.session_id)}`;
    this.plan = plan;
    this.#finished = finished;
  }

  /** The session row as last written. */
  get session(): Readonly<SessionRow> {
    return this.#row;
  }

  /** Order indexes of the runs on disk, ascending. */
  get finishedRuns(): number[] {
    return [...this.#finished].sort((a, b) => a - b);
  }

  /**
   * Creates a new session directory in a dataset directory (created if needed) with an
   * exclusive mkdir, so concurrent writers never share a session, and writes `session.parquet`
   * with status `running` (and `plan.json` when a plan is given).
   *
   * @param dir The dataset directory.
   * @param info The session's environment, e.g. `session.info` of an open tracer session.
   * @param options Suite name, seed and plan.
   * @returns The writer.
   *
   * @example Create a session without a model
   * ```ts
   * import { DatasetWriter, type SessionInfo } from "@tokentrace/tokentrace";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
   *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
   *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
   *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
   *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
   *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
   *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
   * const writer = await DatasetWriter.create(dir, info, { suite: "demo" });
   * assert.equal(writer.session.status, "running");
   * await writer.finish("complete");
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async create(
    dir: string,
    info: SessionInfo,
    options: CreateSessionOptions = {},
  ): Promise<DatasetWriter> {
    const { suite = "", seed = 0, plan } = options;
    await Deno.mkdir(dir, { recursive: true });
    const now = new Date();
    let sessionId = newSessionId(now);
    for (let attempt = 0;; attempt++) {
      try {
        await Deno.mkdir(`${dir}/${LAYOUT.sessionDir(sessionId)}`);
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists) || attempt >= 100) throw error;
        sessionId = newSessionId(now);
      }
    }
    const row: SessionRow = {
      ...info,
      session_id: sessionId,
      schema_version: SCHEMA_VERSION,
      tool_version: TOOL_VERSION,
      status: "running",
      started_at_utc: now.toISOString(),
      finished_at_utc: "",
      suite,
      seed,
      plan_json: plan === undefined ? "" : JSON.stringify(plan),
    };
    const writer = new DatasetWriter(dir, row, plan, new Set());
    await Deno.mkdir(`${writer.sessionDir}/runs`);
    await Deno.mkdir(`${writer.sessionDir}/tokens`);
    if (plan !== undefined) await writeTextAtomic(row.plan_json, `${writer.sessionDir}/plan.json`);
    await writeAtomic(rowFrame("sessions", row), `${dir}/${LAYOUT.sessionFile(sessionId)}`);
    return writer;
  }

  /**
   * Reopens a session directory to add the runs it is missing: reads its session row (checking
   * the schema version), its plan and the runs already on disk (in per-run and range files), and
   * marks it `running` again. Per-run files that a range file already holds (left behind by a
   * compaction that died before deleting them) are deleted.
   *
   * @param sessionDir The `session=<id>` directory.
   * @returns The writer.
   * @throws {DatasetError} When the session file is missing, foreign or corrupt.
   *
   * @example Resume an interrupted session
   * ```ts
   * import { DatasetWriter, type SessionInfo } from "@tokentrace/tokentrace";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
   *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
   *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
   *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
   *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
   *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
   *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
   * const first = await DatasetWriter.create(dir, info, { plan: { runs: 3 } });
   * await first.finish("interrupted");
   * const again = await DatasetWriter.resume(first.sessionDir);
   * assert.equal(again.sessionId, first.sessionId);
   * assert.deepEqual(again.plan, { runs: 3 });
   * assert.deepEqual(again.finishedRuns, []);
   * assert.equal(again.session.status, "running");
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async resume(sessionDir: string): Promise<DatasetWriter> {
    const { dir, datasetDir, row } = openSessionDir(sessionDir, "resume");
    let plan: unknown;
    try {
      plan = JSON.parse(await Deno.readTextFile(`${dir}/plan.json`));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new DatasetError(
          `Cannot resume session "${sessionDir}": plan.json is not valid JSON`,
          `${dir}/plan.json`,
        );
      }
    }
    // Also completes the deletions of a compaction that died after writing its range files.
    const state = await settleSession(dir);
    const finished = new Set([...state.covered, ...state.runFiles.keys()]);
    const writer = new DatasetWriter(datasetDir, row, plan, finished);
    await writer.#writeSession({ ...row, status: "running", finished_at_utc: "" });
    return writer;
  }

  /**
   * Writes one finished run: its tokens file, then its runs file (whose presence marks the run
   * finished), each through a temporary name and a rename.
   *
   * @param run The runs row without `session_id` and `run_id`.
   * @param tokens The run's tokens, `run.output_tokens` of them.
   * @returns The run's identifier.
   * @throws {RangeError} When the run was already written or the token count differs.
   *
   * @example Write a hand-made one-token run
   * ```ts
   * import { DatasetWriter, readDataset, type SessionInfo } from "@tokentrace/tokentrace";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
   *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
   *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
   *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
   *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
   *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
   *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
   * const writer = await DatasetWriter.create(dir, info);
   * const runId = await writer.writeRun({
   *   order_index: 0, repetition: 0, warmup: false, prompt_id: "p", prompt_class: "",
   *   prompt_tags: "", prompt_mode: "raw", prompt_text: "Hi", prompt_tokens: 2, depth_tokens: 0,
   *   max_tokens: 1, threads: 1, batch_size: 512, context_size: 4096, cpu_affinity: "",
   *   temperature: 0, top_k: 40, top_p: 0.95, sampling_seed: 0, stop_reason: "max_tokens", output_tokens: 1,
   *   started_at_ms: 0, prefill_ms: 20, ttft_ms: 21, decode_ms: 0, total_ms: 21,
   *   e2e_tokens_per_s: 1000 / 21, decode_tokens_per_s: NaN, engine_prompt_ms: 19,
   *   engine_prompt_tokens: 2, engine_decode_ms: 0, engine_decode_tokens: 0,
   * }, {
   *   token_index: Int32Array.of(0), position: Int32Array.of(2), phase: ["prefill"],
   *   token_id: Int32Array.of(7), piece: ["!"], piece_bytes: Int32Array.of(1),
   *   t_ms: Float64Array.of(21), latency_ms: Float64Array.of(21), chunk_tokens: Int32Array.of(1),
   * });
   * assert.equal(runId, `${writer.sessionId}-000000`);
   * assert.equal((await readDataset(dir)).runs.height, 1);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async writeRun(run: RunRecord, tokens: TokenColumns): Promise<string> {
    const order = run.order_index;
    if (!Number.isInteger(order) || order < 0) {
      throw new RangeError(`Cannot write run: order_index must be an integer >= 0, found ${order}`);
    }
    if (this.#finished.has(order)) {
      throw new RangeError(
        `Cannot write run ${order} of session ${this.sessionId}: it is already on disk`,
      );
    }
    const n = tokens.t_ms.length;
    if (n !== run.output_tokens) {
      throw new RangeError(
        `Cannot write run ${order}: output_tokens is ${run.output_tokens} but ${n} tokens were given`,
      );
    }
    const runId = runIdOf(this.sessionId, order);
    const tokenFrame = tableFrame("tokens", {
      session_id: new Array<string>(n).fill(this.sessionId),
      run_id: new Array<string>(n).fill(runId),
      ...tokens,
    });
    await writeAtomic(tokenFrame, `${this.#dir}/${LAYOUT.tokensFile(this.sessionId, order)}`);
    const row: RunRow = { ...run, session_id: this.sessionId, run_id: runId };
    await writeAtomic(
      rowFrame("runs", row),
      `${this.#dir}/${LAYOUT.runFile(this.sessionId, order)}`,
    );
    this.#finished.add(order);
    return runId;
  }

  /**
   * Writes many finished runs at once as one range file pair (`tokens/runs-AAAAAA-BBBBBB.parquet`,
   * then `runs/runs-AAAAAA-BBBBBB.parquet`, AAAAAA and BBBBBB the smallest and largest
   * `order_index`), each through a temporary name and a rename: for importing traces made
   * elsewhere (e.g. simulated). The runs need not be contiguous. The `session_id` and `run_id`
   * columns are built in Polars, and string columns are dictionary-encoded before they cross
   * into Polars, so a million rows take a fraction of a second.
   *
   * @param runs The runs rows without `session_id` and `run_id`.
   * @param tokens The tokens of every run, concatenated in the order of `runs`: the first
   * `runs[0].output_tokens` rows belong to `runs[0]`, and so on.
   * @returns The runs' identifiers, in the order of `runs`.
   * @throws {RangeError} When a run is already on disk or given twice, an `order_index` or
   * `output_tokens` is not an integer >= 0, or the token count differs from the sum of
   * `output_tokens`.
   * @throws {TypeError} When a token column is missing, not in the schema, or of another length.
   *
   * @example Write two hand-made runs of two tokens each
   * ```ts
   * import {
   *   DatasetWriter,
   *   readDataset,
   *   type RunRecord,
   *   type SessionInfo,
   * } from "@tokentrace/tokentrace";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
   *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
   *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
   *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
   *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
   *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
   *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
   * const run: RunRecord = {
   *   order_index: 0, repetition: 0, warmup: false, prompt_id: "p", prompt_class: "",
   *   prompt_tags: "", prompt_mode: "raw", prompt_text: "Hi", prompt_tokens: 2, depth_tokens: 0,
   *   max_tokens: 2, threads: 1, batch_size: 512, context_size: 4096, cpu_affinity: "",
   *   temperature: 0, top_k: 40, top_p: 0.95, sampling_seed: 0, stop_reason: "max_tokens", output_tokens: 2,
   *   started_at_ms: 0, prefill_ms: 20, ttft_ms: 21, decode_ms: 10, total_ms: 31,
   *   e2e_tokens_per_s: 2000 / 31, decode_tokens_per_s: 100, engine_prompt_ms: 19,
   *   engine_prompt_tokens: 2, engine_decode_ms: 9, engine_decode_tokens: 1,
   * };
   * const writer = await DatasetWriter.create(dir, info);
   * const ids = await writer.writeRuns([run, { ...run, order_index: 1, repetition: 1 }], {
   *   token_index: Int32Array.of(0, 1, 0, 1), position: Int32Array.of(2, 3, 2, 3),
   *   phase: ["prefill", "decode", "prefill", "decode"], token_id: Int32Array.of(7, 8, 7, 9),
   *   piece: ["!", " a", "!", " b"], piece_bytes: Int32Array.of(1, 2, 1, 2),
   *   t_ms: Float64Array.of(21, 31, 21, 31), latency_ms: Float64Array.of(21, 10, 21, 10),
   *   chunk_tokens: Int32Array.of(1, 1, 1, 1),
   * });
   * assert.deepEqual(ids, [`${writer.sessionId}-000000`, `${writer.sessionId}-000001`]);
   * await writer.finish("complete");
   * const dataset = await readDataset(dir);
   * assert.equal(dataset.runs.height, 2);
   * assert.equal((await dataset.tokens.collect()).height, 4);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async writeRuns(runs: readonly RunRecord[], tokens: TokenColumns): Promise<string[]> {
    const given = new Set<number>();
    let rows = 0;
    let first = Infinity;
    let last = -Infinity;
    for (const run of runs) {
      const order = run.order_index;
      if (!Number.isInteger(order) || order < 0) {
        throw new RangeError(
          `Cannot write runs: order_index must be an integer >= 0, found ${order}`,
        );
      }
      if (this.#finished.has(order)) {
        throw new RangeError(
          `Cannot write run ${order} of session ${this.sessionId}: it is already on disk`,
        );
      }
      if (given.has(order)) {
        throw new RangeError(`Cannot write runs: order_index ${order} is given twice`);
      }
      if (!Number.isInteger(run.output_tokens) || run.output_tokens < 0) {
        throw new RangeError(
          `Cannot write run ${order}: output_tokens must be an integer >= 0, found ${run.output_tokens}`,
        );
      }
      given.add(order);
      rows += run.output_tokens;
      first = Math.min(first, order);
      last = Math.max(last, order);
    }
    const n = tokens.t_ms?.length ?? 0;
    if (n !== rows) {
      throw new RangeError(
        `Cannot write runs: their output_tokens sum to ${rows} but ${n} tokens were given`,
      );
    }
    if (runs.length === 0) return [];
    const runIds = runs.map((run) => runIdOf(this.sessionId, run.order_index));
    const runIndex = new Int32Array(rows);
    for (let r = 0, at = 0; r < runs.length; r++) {
      const end = at + runs[r]!.output_tokens;
      runIndex.fill(r, at, end);
      at = end;
    }
    await writeAtomic(
      encodeTokens(this.sessionId, runIds, runIndex, tokens).collectSync(),
      `${this.#dir}/${LAYOUT.tokensRangeFile(this.sessionId, first, last)}`,
    );
    const runRecords = runs as readonly object[] as readonly Record<string, unknown>[];
    const runFrame = tableFrame(
      "runs",
      Object.fromEntries(SCHEMA.runs.map((col) => {
        if (col.name === "session_id") return [col.name, runs.map(() => this.sessionId)];
        if (col.name === "run_id") return [col.name, runIds];
        return [col.name, runRecords.map((run) => run[col.name])];
      })),
    );
    await writeAtomic(
      runFrame,
      `${this.#dir}/${LAYOUT.runsRangeFile(this.sessionId, first, last)}`,
    );
    for (const order of given) this.#finished.add(order);
    return runIds;
  }

  /**
   * Merges the session's per-run files into one range file pair (see
   * {@linkcode compactSession}), then marks the session `complete` or `interrupted` and stamps
   * its end time.
   *
   * @param status The final status.
   *
   * @example Finish a session
   * ```ts
   * import { DatasetWriter, type SessionInfo } from "@tokentrace/tokentrace";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
   *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
   *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
   *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
   *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
   *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
   *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
   * const writer = await DatasetWriter.create(dir, info);
   * await writer.finish("interrupted");
   * assert.equal(writer.session.status, "interrupted");
   * assert.notEqual(writer.session.finished_at_utc, "");
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async finish(status: "complete" | "interrupted"): Promise<void> {
    if (status !== "complete" && status !== "interrupted") {
      throw new TypeError(
        `Cannot finish session: status must be "complete" or "interrupted", found ${
          JSON.stringify(status)
        }`,
      );
    }
    await compact(this.#dir, this.sessionId);
    await this.#writeSession({ ...this.#row, status, finished_at_utc: new Date().toISOString() });
  }

  async #writeSession(row: SessionRow): Promise<void> {
    await writeAtomic(
      rowFrame("sessions", row),
      `${this.#dir}/${LAYOUT.sessionFile(row.session_id)}`,
    );
    this.#row = row;
  }
}

const dtypeName = (dtype: unknown): string => String(dtype).replace(/^DataType\((.*)\)$/, "$1");

/** The first difference between a frame's columns and a table's schema, or undefined. */
function schemaProblem(frame: pl.DataFrame, table: TableName): string | undefined {
  const expected = SCHEMA[table];
  // columns and dtypes, not frame.schema: several times cheaper per file.
  const names = frame.columns;
  const dtypes = frame.dtypes;
  for (const [i, col] of expected.entries()) {
    const at = names.indexOf(col.name);
    if (at < 0) return `column "${col.name}" of the ${table} table is missing`;
    if (String(dtypes[at]) !== String(DTYPES[col.type])) {
      return `column "${col.name}" has type ${dtypeName(dtypes[at])}, expected ${
        dtypeName(DTYPES[col.type])
      }`;
    }
    if (at !== i) return `column "${col.name}" is at position ${at}, expected ${i}`;
  }
  const extra = names.find((name) => !expected.some((col) => col.name === name));
  return extra === undefined ? undefined : `column "${extra}" is not in the ${table} table`;
}

/** Scan options that make Polars refuse files whose columns differ from the table's. */
const strictScan = (table: TableName): pl.ScanParquetOptions => ({
  hivePartitioning: false,
  schema: polarsSchema(table),
  extraColumns: "raise",
  missingColumns: "raise",
});

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split("\n")[0]!;
}

/**
 * Reads a file (only its schema when `schemaOnly`), refusing a corrupt or foreign one. A file of
 * a session written with an older schema `version` is upgraded (see `upgradeTable()`) before
 * its columns are checked.
 */
function readChecked(
  path: string,
  table: TableName,
  schemaOnly: boolean,
  version: number = SCHEMA_VERSION,
): pl.DataFrame {
  let frame: pl.DataFrame;
  try {
    Deno.statSync(path);
  } catch {
    throw new DatasetError(`Cannot read dataset file "${path}": no such file`, path);
  }
  try {
    frame = pl.readParquet(path, schemaOnly ? { nRows: 0 } : {});
  } catch (error) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": not a readable Parquet file (${firstLine(error)})`,
      path,
    );
  }
  if (version !== SCHEMA_VERSION) {
    try {
      frame = upgradeTable(table, version, frame.lazy()).collectSync();
    } catch (error) {
      throw new DatasetError(
        `Cannot read dataset file "${path}": it does not hold the ${table} table of schema version ${version} (${
          firstLine(error)
        })`,
        path,
      );
    }
  }
  const problem = schemaProblem(frame, table);
  if (problem !== undefined) {
    throw new DatasetError(`Cannot read dataset file "${path}": ${problem}`, path);
  }
  return frame;
}

/**
 * Reads a session file: its version decides how the session's files are read (the current
 * version as is, an older upgradable one through `upgradeTable()`); others are refused.
 */
function readSessionFile(
  path: string,
  sessionId: string,
): { frame: pl.DataFrame; row: SessionRow; version: number } {
  let raw: pl.DataFrame;
  try {
    Deno.statSync(path);
  } catch {
    throw new DatasetError(`Cannot read dataset file "${path}": no such file`, path);
  }
  try {
    raw = pl.readParquet(path);
  } catch (error) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": not a readable Parquet file (${firstLine(error)})`,
      path,
    );
  }
  if (raw.height !== 1) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": expected 1 row, found ${raw.height}`,
      path,
    );
  }
  const version = raw.columns.includes("schema_version")
    ? Number(raw.getColumn("schema_version").get(0))
    : SCHEMA_VERSION;
  if (
    version !== SCHEMA_VERSION &&
    !(version >= OLDEST_UPGRADABLE_VERSION && version < SCHEMA_VERSION)
  ) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": schema_version is ${version}, this tokentrace reads ${SCHEMA_VERSION} (and upgrades ${OLDEST_UPGRADABLE_VERSION} to ${
        SCHEMA_VERSION - 1
      } on read)`,
      path,
    );
  }
  const frame = readChecked(path, "sessions", false, version);
  const row = frame.toRecords()[0] as unknown as SessionRow;
  checkSessionRow(row, path, sessionId, frame.height, version);
  return { frame, row, version };
}

function checkSessionRow(
  row: SessionRow,
  path: string,
  sessionId: string,
  height: number,
  version: number = SCHEMA_VERSION,
): void {
  if (height !== 1) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": expected 1 row, found ${height}`,
      path,
    );
  }
  if (row.schema_version !== version) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": schema_version is ${row.schema_version}, this tokentrace reads ${SCHEMA_VERSION}`,
      path,
    );
  }
  if (row.session_id !== sessionId) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": session_id is "${row.session_id}", expected "${sessionId}" from its directory`,
      path,
    );
  }
}

/** Splits a `session=<id>` directory path, reads its session row and checks it. */
function openSessionDir(
  sessionDir: string,
  action: string,
): { dir: string; datasetDir: string; sessionId: string; row: SessionRow } {
  const dir = sessionDir.replace(/\/+$/, "");
  const slash = dir.lastIndexOf("/");
  const datasetDir = slash < 0 ? "." : dir.slice(0, slash) || "/";
  const name = dir.slice(slash + 1);
  if (!name.startsWith("session=")) {
    throw new DatasetError(
      `Cannot ${action} session "${sessionDir}": expected a directory named session=<id>`,
      sessionDir,
    );
  }
  const sessionId = name.slice("session=".length);
  const file = `${datasetDir}/${LAYOUT.sessionFile(sessionId)}`;
  const { row, version } = readSessionFile(file, sessionId);
  if (version !== SCHEMA_VERSION) {
    throw new DatasetError(
      `Cannot ${action} session "${sessionDir}": "${file}" was written with schema version ${version} and is read-only (upgraded on read); this tokentrace writes version ${SCHEMA_VERSION}, so start a new session`,
      file,
    );
  }
  return { dir, datasetDir, sessionId, row };
}

const RUN_FILE = /^run-(\d{6,})\.parquet$/;
const RANGE_FILE = /^runs-(\d{6,})-(\d{6,})\.parquet$/;

/** The Parquet files of one session's `runs` and `tokens` directories, by kind. */
interface SessionFiles {
  /** Per-run runs files by order_index. */
  runFiles: Map<number, string>;
  /** Per-run tokens files by order_index. */
  tokenFiles: Map<number, string>;
  /** Runs range files by file name, in name order. */
  runRanges: Map<string, string>;
  /** Tokens range files by file name. */
  tokenRanges: Map<string, string>;
}

/** Lists a session's data files, refusing a `.parquet` file of neither naming pattern. */
async function listSession(sessionDir: string): Promise<SessionFiles> {
  const files: SessionFiles = {
    runFiles: new Map(),
    tokenFiles: new Map(),
    runRanges: new Map(),
    tokenRanges: new Map(),
  };
  for (const table of ["runs", "tokens"] as const) {
    const dir = `${sessionDir}/${table}`;
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.endsWith(".parquet")) names.push(entry.name);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    for (const name of names.sort()) {
      const path = `${dir}/${name}`;
      const run = RUN_FILE.exec(name);
      const range = RANGE_FILE.exec(name);
      if (run !== null) {
        (table === "runs" ? files.runFiles : files.tokenFiles).set(Number(run[1]), path);
      } else if (range !== null && Number(range[1]) <= Number(range[2])) {
        (table === "runs" ? files.runRanges : files.tokenRanges).set(name, path);
      } else {
        throw new DatasetError(
          `Cannot read dataset file "${path}": expected a name run-<order>.parquet or runs-<first>-<last>.parquet with first <= last`,
          path,
        );
      }
    }
  }
  return files;
}

/** What a session's files hold once range files take precedence over per-run files. */
interface SessionState {
  /** The runs range files' rows, in file name order. */
  rangeRuns: pl.DataFrame[];
  /** Order indexes of the runs that range files hold. */
  covered: Set<number>;
  /** Tokens range files whose runs range file exists, in name order. */
  tokenRanges: string[];
  /** Per-run runs files of runs no range file holds, by order_index. */
  runFiles: Map<number, string>;
  /** Per-run tokens files of runs no range file holds (runs in flight too), by order_index. */
  tokenFiles: Map<number, string>;
  /**
   * Files to ignore and delete: per-run files of runs a range file holds (a compaction died
   * before deleting them) and tokens range files without their runs range file (a compaction
   * or `writeRuns()` died before writing it).
   */
  obsolete: string[];
}

/** Reads a session's runs range files and sorts its files out (see `SessionState`). */
function sessionState(files: SessionFiles, version: number = SCHEMA_VERSION): SessionState {
  const rangeRuns: pl.DataFrame[] = [];
  const covered = new Set<number>();
  for (const [name, path] of files.runRanges) {
    const frame = readChecked(path, "runs", false, version);
    const match = RANGE_FILE.exec(name)!;
    const first = Number(match[1]);
    const last = Number(match[2]);
    for (const order of frame.getColumn("order_index").toTypedArray() as Int32Array) {
      if (order < first || order > last) {
        throw new DatasetError(
          `Cannot read dataset file "${path}": it holds run ${order}, outside its range ${first}-${last}`,
          path,
        );
      }
      if (covered.has(order)) {
        throw new DatasetError(
          `Cannot read dataset file "${path}": run ${order} is also in another range file`,
          path,
        );
      }
      covered.add(order);
    }
    rangeRuns.push(frame);
  }
  const obsolete: string[] = [];
  const tokenRanges: string[] = [];
  for (const [name, path] of files.tokenRanges) {
    if (files.runRanges.has(name)) tokenRanges.push(path);
    else obsolete.push(path);
  }
  const uncovered = (byOrder: Map<number, string>): Map<number, string> => {
    const kept = new Map<number, string>();
    for (const [order, path] of byOrder) {
      if (covered.has(order)) obsolete.push(path);
      else kept.set(order, path);
    }
    return kept;
  };
  const runFiles = uncovered(files.runFiles);
  const tokenFiles = uncovered(files.tokenFiles);
  return { rangeRuns, covered, tokenRanges, runFiles, tokenFiles, obsolete };
}

/** Sorts a session's files out and deletes the obsolete ones (see `SessionState`). */
async function settleSession(sessionDir: string): Promise<SessionState> {
  const state = sessionState(await listSession(sessionDir));
  for (const path of state.obsolete) {
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  return state;
}

/** What {@linkcode compactSession} merged. */
export interface CompactionResult {
  /** Runs merged into the new range file pair; 0 when the session had no per-run files. */
  runs: number;
  /** Token rows merged: the sum of the merged runs' `output_tokens`. */
  tokens: number;
}

/** Merges a session's per-run files into one range file pair (see `compactSession()`). */
async function compact(datasetDir: string, sessionId: string): Promise<CompactionResult> {
  const sessionDir = `${datasetDir}/${LAYOUT.sessionDir(sessionId)}`;
  const state = await settleSession(sessionDir);
  const orders = [...state.runFiles.keys()].sort((a, b) => a - b);
  if (orders.length === 0) return { runs: 0, tokens: 0 };
  const first = orders[0]!;
  const last = orders[orders.length - 1]!;
  // Every per-run runs file left is uncovered, so the glob reads exactly them.
  const runs = readRunFiles(sessionDir, `${sessionDir}/runs/run-*.parquet`, [
    ...state.runFiles.values(),
  ]).sort("order_index");
  // Tokens of runs in flight (no runs file) stay out, by the semi join.
  const tokens = state.tokenFiles.size === 0
    ? emptyTable("tokens").lazy()
    : pl.scanParquet(`${sessionDir}/tokens/run-*.parquet`, strictScan("tokens"))
      .join(runs.select("run_id").lazy(), { on: "run_id", how: "semi" });
  try {
    await sinkAtomic(tokens, `${datasetDir}/${LAYOUT.tokensRangeFile(sessionId, first, last)}`);
  } catch (error) {
    for (const path of state.tokenFiles.values()) readChecked(path, "tokens", true);
    throw new DatasetError(
      `Cannot compact session "${sessionDir}": ${firstLine(error)}`,
      sessionDir,
    );
  }
  await writeAtomic(runs, `${datasetDir}/${LAYOUT.runsRangeFile(sessionId, first, last)}`);
  for (const order of orders) await Deno.remove(state.runFiles.get(order)!);
  for (const order of orders) {
    const path = state.tokenFiles.get(order);
    if (path !== undefined) await Deno.remove(path);
  }
  const outputTokens = runs.getColumn("output_tokens").toTypedArray() as Int32Array;
  return { runs: orders.length, tokens: outputTokens.reduce((a, b) => a + b, 0) };
}

/**
 * Merges a session's per-run files (`run-NNNNNN.parquet`, one pair per run) into one range file
 * pair `runs-AAAAAA-BBBBBB.parquet` (AAAAAA and BBBBBB the smallest and largest merged
 * `order_index`): the tokens file first, then the runs file, each through a temporary name and
 * a rename, then deletes the per-run files it merged. {@linkcode DatasetWriter.finish} calls it;
 * call it yourself on a session written before, or one whose writer died. Range files already
 * there stay as they are; tokens of a run in flight (no runs file) stay in their per-run file.
 *
 * Crash safety: until the runs range file is renamed into place, readers see the per-run
 * files; after it, they ignore per-run files of the runs it holds, and the next compaction (or
 * {@linkcode DatasetWriter.resume}) deletes them. Do not call it on a session another process is
 * writing.
 *
 * @param sessionDir The `session=<id>` directory.
 * @returns How many runs and token rows were merged (0 and 0 when there were no per-run files).
 * @throws {DatasetError} When the session file or a data file is missing, foreign or corrupt.
 *
 * @example Compact a session written run by run
 * ```ts
 * import { compactSession, DatasetWriter, readDataset, type SessionInfo } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
 *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
 *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
 *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
 *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
 *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
 *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
 *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
 *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
 * const writer = await DatasetWriter.create(dir, info);
 * for (const order of [0, 1, 2]) {
 *   await writer.writeRun({
 *     order_index: order, repetition: order, warmup: false, prompt_id: "p", prompt_class: "",
 *     prompt_tags: "", prompt_mode: "raw", prompt_text: "Hi", prompt_tokens: 2, depth_tokens: 0,
 *     max_tokens: 1, threads: 1, batch_size: 512, context_size: 4096, cpu_affinity: "",
 *     temperature: 0, top_k: 40, top_p: 0.95, sampling_seed: 0, stop_reason: "max_tokens", output_tokens: 1,
 *     started_at_ms: 0, prefill_ms: 20, ttft_ms: 21, decode_ms: 0, total_ms: 21,
 *     e2e_tokens_per_s: 1000 / 21, decode_tokens_per_s: NaN, engine_prompt_ms: 19,
 *     engine_prompt_tokens: 2, engine_decode_ms: 0, engine_decode_tokens: 0,
 *   }, {
 *     token_index: Int32Array.of(0), position: Int32Array.of(2), phase: ["prefill"],
 *     token_id: Int32Array.of(7), piece: ["!"], piece_bytes: Int32Array.of(1),
 *     t_ms: Float64Array.of(21), latency_ms: Float64Array.of(21), chunk_tokens: Int32Array.of(1),
 *   });
 * }
 * assert.deepEqual(await compactSession(writer.sessionDir), { runs: 3, tokens: 3 });
 * const files = await Array.fromAsync(Deno.readDir(`${writer.sessionDir}/runs`));
 * assert.deepEqual(files.map((f) => f.name), ["runs-000000-000002.parquet"]);
 * assert.equal((await readDataset(dir)).runs.height, 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function compactSession(sessionDir: string): Promise<CompactionResult> {
  const { datasetDir, sessionId } = openSessionDir(sessionDir, "compact");
  return await compact(datasetDir, sessionId);
}

/** A table with no rows. */
const emptyTable = (table: TableName): pl.DataFrame =>
  tableFrame(table, Object.fromEntries(SCHEMA[table].map((col) => [col.name, []])));

/** Scans one glob or a list of files of a table, refusing columns that differ from the schema. */
function scanFiles(source: string | readonly string[], table: TableName): pl.LazyDataFrame {
  if (typeof source === "string") return pl.scanParquet(source, strictScan(table));
  const scans = source.map((path) => pl.scanParquet(path, strictScan(table)));
  return scans.length === 1 ? scans[0]! : pl.concat(scans);
}

/**
 * Reads runs files in one scan (one file per run makes per-file reads slow); when the scan
 * fails, checks the files one by one to name the bad one.
 */
function readRunFiles(
  at: string,
  source: string | readonly string[],
  files: readonly string[],
): pl.DataFrame {
  try {
    return scanFiles(source, "runs").collectSync();
  } catch (error) {
    for (const path of files) readChecked(path, "runs", true);
    throw new DatasetError(`Cannot read dataset "${at}": ${firstLine(error)}`, at);
  }
}

/**
 * Reads a dataset directory: every `session=<id>` directory's session file, runs files and
 * tokens files, per-run (`run-NNNNNN.parquet`) and range (`runs-AAAAAA-BBBBBB.parquet`) alike.
 * Each file's columns and types must match {@linkcode SCHEMA} exactly and each session's
 * `schema_version` must be this tokentrace's. Tokens of runs without a runs file (a run that
 * was in flight when its process died) are left out. A per-run file of a run that a range file
 * holds (left by a compaction that died before deleting it) is ignored, as is a tokens range
 * file without its runs range file; nothing is counted twice. A session directory without a
 * session file yet (being created) is skipped.
 *
 * Speed: a compacted session reads in one scan per range file (milliseconds). Per-run files
 * cost ~0.5 ms per run here (the runs files' glob scan and one schema check per tokens file),
 * ~20 s for 40,000 uncompacted runs, and the tokens scan pays a per-file cost again: compact
 * such a session once ({@linkcode compactSession}).
 *
 * @param dir The dataset directory.
 * @returns The sessions and runs as eager frames (runs sorted by session and `order_index`),
 * the tokens as a lazy frame (a scan); all nodejs-polars frames at run time.
 * @throws {DatasetError} When a file is foreign, corrupt or of another schema version, or a
 * sub-directory is not a session directory; the message is one line naming it.
 *
 * @example Read an empty dataset
 * ```ts
 * import { readDataset } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const { sessions, runs, tokens } = await readDataset(dir);
 * assert.equal(sessions.height, 0);
 * assert.equal(runs.height, 0);
 * assert.equal((await tokens.collect()).height, 0);
 * await Deno.remove(dir);
 * ```
 */
export async function readDataset(dir: string): Promise<Dataset> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    throw new DatasetError(`Cannot read dataset "${dir}": ${firstLine(error)}`, dir);
  }
  const sessionIds: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith(".") || !entry.isDirectory) continue;
    if (!entry.name.startsWith("session=")) {
      throw new DatasetError(
        `Cannot read dataset "${dir}": "${dir}/${entry.name}" is not a session directory (session=<id>)`,
        `${dir}/${entry.name}`,
      );
    }
    sessionIds.push(entry.name.slice("session=".length));
  }
  sessionIds.sort();

  const sessionFrames: pl.DataFrame[] = [];
  const rangeRuns: pl.DataFrame[] = [];
  const rangeTokens: string[] = [];
  const runFiles: string[] = [];
  const tokenFiles: string[] = [];
  // Tables of sessions written with an older schema version, upgraded (see `upgradeTable()`).
  const upgradedTokens: pl.LazyDataFrame[] = [];
  // Whether the per-run globs below match exactly the per-run files to read.
  let globsExact = true;
  for (const id of sessionIds) {
    const file = `${dir}/${LAYOUT.sessionFile(id)}`;
    const sessionDir = `${dir}/${LAYOUT.sessionDir(id)}`;
    try {
      await Deno.stat(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      globsExact = false;
      continue;
    }
    const { frame, version } = readSessionFile(file, id);
    sessionFrames.push(frame);
    const state = sessionState(await listSession(sessionDir), version);
    rangeRuns.push(...state.rangeRuns);
    if (version !== SCHEMA_VERSION) {
      // Read file by file and upgraded; the per-run globs below must not match these files.
      if (state.runFiles.size > 0 || state.obsolete.length > 0) globsExact = false;
      const scan = (path: string): pl.LazyDataFrame => {
        readChecked(path, "tokens", true, version);
        return upgradeTable("tokens", version, pl.scanParquet(path, { hivePartitioning: false }));
      };
      upgradedTokens.push(...state.tokenRanges.map(scan));
      const perRun = [...state.runFiles.values()].map((path) =>
        readChecked(path, "runs", false, version)
      );
      rangeRuns.push(...perRun);
      if (perRun.length > 0 && state.tokenFiles.size > 0) {
        const finished = pl.concat(perRun).select("run_id").lazy();
        upgradedTokens.push(
          ...[...state.tokenFiles.values()].map((path) =>
            scan(path).join(finished, { on: "run_id", how: "semi" })
          ),
        );
      }
      continue;
    }
    for (const path of state.tokenRanges) {
      readChecked(path, "tokens", true);
      rangeTokens.push(path);
    }
    if (state.obsolete.some((path) => RUN_FILE.test(path.slice(path.lastIndexOf("/") + 1)))) {
      globsExact = false;
    }
    runFiles.push(...state.runFiles.values());
    for (const path of state.tokenFiles.values()) {
      readChecked(path, "tokens", true);
      tokenFiles.push(path);
    }
  }
  const sessions = sessionFrames.length > 0
    ? pl.concat(sessionFrames.map((frame) => frame.lazy())).collectSync()
    : emptyTable("sessions");
  const perRunRuns = runFiles.length > 0
    ? readRunFiles(dir, globsExact ? `${dir}/*/runs/run-*.parquet` : runFiles, runFiles)
    : undefined;
  const runFrames = perRunRuns === undefined ? rangeRuns : [...rangeRuns, perRunRuns];
  const runs = runFrames.length > 0
    ? pl.concat(runFrames).sort(["session_id", "order_index"])
    : emptyTable("runs");
  const tokenScans = rangeTokens.map((path) => pl.scanParquet(path, strictScan("tokens")));
  if (perRunRuns !== undefined && tokenFiles.length > 0) {
    tokenScans.push(
      scanFiles(globsExact ? `${dir}/*/tokens/run-*.parquet` : tokenFiles, "tokens")
        .join(perRunRuns.select("run_id").lazy(), { on: "run_id", how: "semi" }),
    );
  }
  tokenScans.push(...upgradedTokens);
  const tokens = tokenScans.length === 0
    ? emptyTable("tokens").lazy()
    : tokenScans.length === 1
    ? tokenScans[0]!
    : pl.concat(tokenScans);
  return { sessions, runs, tokens };
}
