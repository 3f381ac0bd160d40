/**
 * Writing a dataset: {@linkcode DatasetWriter} creates or resumes one session and writes its
 * runs, each through a temporary name and a rename, and compacts the session when it finishes.
 *
 * @module
 */

import pl from "nodejs-polars";
import { TOOL_VERSION } from "../schema/_env.ts";
import { DTYPES, tableFrame } from "../schema/_table.ts";
import { LAYOUT, SCHEMA, SCHEMA_VERSION, type TableName } from "../schema/schema.ts";
import type { SessionInfo, TokenColumns } from "../tracer/source.ts";
import { DatasetError, type RunRow, type SessionRow } from "./dataset.ts";
import { compact } from "./compact.ts";
import { writeAtomic, writeTextAtomic } from "./_files.ts";
import { openSessionDir, settleSession } from "./read.ts";

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

/** A one-row frame from a row object holding every schema column (and possibly more fields). */
function rowFrame(table: TableName, row: object): pl.DataFrame {
  const record = row as Record<string, unknown>;
  return tableFrame(
    table,
    Object.fromEntries(SCHEMA[table].map((col) => [col.name, [record[col.name]]])),
  );
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
