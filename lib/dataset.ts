/**
 * The trace dataset on disk: a writer that keeps every finished run safe on disk as it goes,
 * and a reader that returns the three tables as Polars frames, refusing foreign or corrupt files.
 *
 * @module
 */

import pl from "nodejs-polars";
import { TOOL_VERSION } from "./_env.ts";
import type { Frame, LazyFrame } from "./frame.ts";
import { LAYOUT, SCHEMA, SCHEMA_VERSION, type TableName } from "./schema.ts";
import type { RunSummary, SessionInfo, TokenColumns } from "./tracer.ts";

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
 *   t_ms: [20.5], latency_ms: [20.5],
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
    return pl.Series(col.name, values as unknown[], DTYPES[col.type]);
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

async function writeTextAtomic(text: string, path: string): Promise<void> {
  const tmp = tmpName(path);
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

function newSessionId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(3)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${stamp}-${hex}`;
}

const RUN_FILE = /^run-(\d{6,})\.parquet$/;

/**
 * Writes one session of a dataset: `session.parquet` (status `running` until
 * {@linkcode DatasetWriter.finish}), then one tokens file and one runs file per run, each
 * through a temporary name and a rename, so a crash loses at most the run in flight.
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
   *   runtime_version: "Deno", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_sha256: "0", model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
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
   * the schema version), its plan and the runs already on disk, and marks it `running` again.
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
   *   runtime_version: "Deno", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_sha256: "0", model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
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
    const dir = sessionDir.replace(/\/+$/, "");
    const slash = dir.lastIndexOf("/");
    const datasetDir = slash < 0 ? "." : dir.slice(0, slash) || "/";
    const name = dir.slice(slash + 1);
    if (!name.startsWith("session=")) {
      throw new DatasetError(
        `Cannot resume session "${sessionDir}": expected a directory named session=<id>`,
        sessionDir,
      );
    }
    const sessionId = name.slice("session=".length);
    const file = `${datasetDir}/${LAYOUT.sessionFile(sessionId)}`;
    const frame = readChecked(file, "sessions", false);
    const row = frame.toRecords()[0] as unknown as SessionRow;
    checkSessionRow(row, file, sessionId, frame.height);
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
    const finished = new Set<number>();
    for await (const entry of Deno.readDir(`${dir}/runs`)) {
      const match = RUN_FILE.exec(entry.name);
      if (match !== null) finished.add(Number(match[1]));
    }
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
   *   runtime_version: "Deno", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_sha256: "0", model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
   * const writer = await DatasetWriter.create(dir, info);
   * const runId = await writer.writeRun({
   *   order_index: 0, repetition: 0, warmup: false, prompt_id: "p", prompt_class: "",
   *   prompt_tags: "", prompt_mode: "raw", prompt_text: "Hi", prompt_tokens: 2, depth_tokens: 0,
   *   max_tokens: 1, threads: 1, batch_size: 512, context_size: 4096, temperature: 0, top_k: 40,
   *   top_p: 0.95, sampling_seed: 0, stop_reason: "max_tokens", output_tokens: 1,
   *   started_at_ms: 0, prefill_ms: 20, ttft_ms: 21, decode_ms: 0, total_ms: 21,
   *   e2e_tokens_per_s: 1000 / 21, decode_tokens_per_s: NaN, llama_prompt_eval_ms: 19,
   *   llama_prompt_eval_tokens: 2, llama_eval_ms: 0, llama_eval_tokens: 0,
   * }, {
   *   token_index: Int32Array.of(0), position: Int32Array.of(2), phase: ["prefill"],
   *   token_id: Int32Array.of(7), piece: ["!"], piece_bytes: Int32Array.of(1),
   *   t_ms: Float64Array.of(21), latency_ms: Float64Array.of(21),
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
    const runId = `${this.sessionId}-${String(order).padStart(6, "0")}`;
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
   * Marks the session `complete` or `interrupted` and stamps its end time.
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
   *   runtime_version: "Deno", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
   *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
   *   model_sha256: "0", model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
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

/** Reads a file (only its schema when `schemaOnly`), refusing a corrupt or foreign one. */
function readChecked(path: string, table: TableName, schemaOnly: boolean): pl.DataFrame {
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
  const problem = schemaProblem(frame, table);
  if (problem !== undefined) {
    throw new DatasetError(`Cannot read dataset file "${path}": ${problem}`, path);
  }
  return frame;
}

function checkSessionRow(row: SessionRow, path: string, sessionId: string, height: number): void {
  if (height !== 1) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": expected 1 row, found ${height}`,
      path,
    );
  }
  if (row.schema_version !== SCHEMA_VERSION) {
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

async function parquetFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".parquet")) files.push(`${dir}/${entry.name}`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files.sort();
}

/**
 * Reads a dataset directory: every `session=<id>` directory's session file, runs files and
 * tokens files. Each file's columns and types must match {@linkcode SCHEMA} exactly and each
 * session's `schema_version` must be this tokentrace's. Tokens of runs without a runs file
 * (a run that was in flight when its process died) are left out. A session directory without
 * a session file yet (being created) is skipped.
 *
 * @param dir The dataset directory.
 * @returns The sessions and runs as eager frames, the tokens as a lazy frame (a scan); all
 * nodejs-polars frames at run time.
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
  const runFiles: string[] = [];
  const tokenFiles: string[] = [];
  for (const id of sessionIds) {
    const file = `${dir}/${LAYOUT.sessionFile(id)}`;
    try {
      await Deno.stat(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    const frame = readChecked(file, "sessions", false);
    checkSessionRow(frame.toRecords()[0] as unknown as SessionRow, file, id, frame.height);
    sessionFrames.push(frame);
    const sessionDir = `${dir}/${LAYOUT.sessionDir(id)}`;
    runFiles.push(...await parquetFiles(`${sessionDir}/runs`));
    for (const path of await parquetFiles(`${sessionDir}/tokens`)) {
      readChecked(path, "tokens", true);
      tokenFiles.push(path);
    }
  }
  const empty = (table: TableName): pl.DataFrame =>
    tableFrame(table, Object.fromEntries(SCHEMA[table].map((col) => [col.name, []])));
  const sessions = sessionFrames.length > 0
    ? pl.concat(sessionFrames.map((frame) => frame.lazy())).collectSync()
    : empty("sessions");
  const runs = runFiles.length > 0 ? readRuns(dir, runFiles) : empty("runs");
  const tokens = tokenFiles.length === 0
    ? empty("tokens").lazy()
    : pl.scanParquet(`${dir}/*/tokens/*.parquet`, strictScan("tokens"))
      .join(runs.select("run_id").lazy(), { on: "run_id", how: "semi" });
  return { sessions, runs, tokens };
}

/**
 * Reads every runs file in one multi-file scan (one file per run makes per-file reads slow);
 * when the scan fails, checks the files one by one to name the bad one.
 */
function readRuns(dir: string, files: readonly string[]): pl.DataFrame {
  try {
    return pl.scanParquet(`${dir}/*/runs/*.parquet`, strictScan("runs")).collectSync();
  } catch (error) {
    for (const path of files) readChecked(path, "runs", true);
    throw new DatasetError(`Cannot read dataset "${dir}": ${firstLine(error)}`, dir);
  }
}
