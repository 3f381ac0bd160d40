/**
 * The trace dataset schema: one table of columns per dataset table, each with its Polars
 * dtype, unit and description. This single definition drives the Parquet writer, the
 * reader's checks and the schema section of the README.
 *
 * Folder `lib/schema/`: the dataset schema, the frame types and the Polars bridge, versions and
 * host facts, and name matching for did-you-mean hints. May import: nothing else in lib/.
 *
 * @module
 */

/**
 * Version of the on-disk dataset layout and columns. Bump on any incompatible change.
 * 1: first release. 2: `runs.cpu_affinity` added (readers of 2 refuse 1's files).
 * 3: engine-neutral counters (`runs.engine_*` replace `runs.llama_*`), the session's source
 * (`source`, `endpoint_url`, `engine_name`, `engine_version`) and `tokens.chunk_tokens`;
 * `model_quantization` names llama.cpp's file type, with `model_dominant_type` and
 * `model_type_shares` beside it; version 2 files are upgraded on read (see `upgradeTable()` in
 * lib/dataset/upgrade.ts), version 1 files are refused.
 */
export const SCHEMA_VERSION = 3;

/** Logical column types, mapped to Polars dtypes by the writer and reader. */
export type ColumnType = "utf8" | "int32" | "int64" | "float64" | "bool";

/** One column of a dataset table. */
export interface Column {
  /** Column name, snake_case, with a unit suffix where the value has a unit. */
  readonly name: string;
  /** Logical type. */
  readonly type: ColumnType;
  /** Unit of the value (`ms`, `bytes`, `tokens`, ...), or an empty string. */
  readonly unit: string;
  /** What the value is, in one sentence. */
  readonly description: string;
}

/** The names of the three dataset tables. */
export type TableName = "sessions" | "runs" | "tokens";

/**
 * Every table's columns, in file order.
 *
 * @example Look up a column
 * ```ts
 * import { SCHEMA } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const latency = SCHEMA.tokens.find((col) => col.name === "latency_ms");
 * assert.equal(latency?.type, "float64");
 * ```
 */
// deno-fmt-ignore
export const SCHEMA = {
  sessions: [
    { name: "session_id",             type: "utf8",    unit: "",         description: "Session identifier, also the `session=<id>` directory name." },
    { name: "schema_version",         type: "int32",   unit: "",         description: "Dataset schema version the files were written with." },
    { name: "tool_version",           type: "utf8",    unit: "",         description: "tokentrace version that wrote the session." },
    { name: "status",                 type: "utf8",    unit: "",         description: "`running`, `complete` or `interrupted`." },
    { name: "started_at_utc",         type: "utf8",    unit: "",         description: "Session start, RFC 3339 UTC." },
    { name: "finished_at_utc",        type: "utf8",    unit: "",         description: "Session end, RFC 3339 UTC; empty while running." },
    { name: "host",                   type: "utf8",    unit: "",         description: "Host name." },
    { name: "os",                     type: "utf8",    unit: "",         description: "Operating system and kernel release." },
    { name: "arch",                   type: "utf8",    unit: "",         description: "CPU architecture (`x86_64`, `aarch64`)." },
    { name: "cpu_model",              type: "utf8",    unit: "",         description: "CPU model name." },
    { name: "cpu_cores",              type: "int32",   unit: "cores",    description: "Logical CPU cores the OS reports." },
    { name: "cpu_math_cores",         type: "int32",   unit: "cores",    description: "Physical math cores node-llama-cpp reports." },
    { name: "memory_bytes",           type: "int64",   unit: "bytes",    description: "Total system memory." },
    { name: "gpu_requested",          type: "utf8",    unit: "",         description: "Backend asked for: `auto`, `metal`, `cuda`, `vulkan` or `cpu`." },
    { name: "backend",                type: "utf8",    unit: "",         description: "Backend in use: `metal`, `cuda`, `vulkan` or `cpu`." },
    { name: "gpu_name",               type: "utf8",    unit: "",         description: "GPU device name(s); empty on CPU." },
    { name: "gpu_vram_bytes",         type: "int64",   unit: "bytes",    description: "Total GPU memory; 0 on CPU." },
    { name: "threads",                type: "int32",   unit: "threads",  description: "Default compute threads of the session; empty when unknown (an endpoint)." },
    { name: "batch_size",             type: "int32",   unit: "tokens",   description: "Default batch size of the session; empty when unknown." },
    { name: "context_size",           type: "int32",   unit: "tokens",   description: "Default context size of the session (an endpoint: the server's, when it says); empty when unknown." },
    { name: "flash_attention",        type: "bool",    unit: "",         description: "Whether flash attention was requested." },
    { name: "node_llama_cpp_version", type: "utf8",    unit: "",         description: "node-llama-cpp package version." },
    { name: "llama_cpp_release",      type: "utf8",    unit: "",         description: "llama.cpp release of the loaded binary." },
    { name: "runtime_version",        type: "utf8",    unit: "",         description: "Deno (and V8) version." },
    { name: "source",                 type: "utf8",    unit: "",         description: "`in-process` (node-llama-cpp in this process) or `endpoint` (a server's streaming HTTP API)." },
    { name: "endpoint_url",           type: "utf8",    unit: "",         description: "Base URL of the traced server, without credentials; empty for in-process sessions." },
    { name: "engine_name",            type: "utf8",    unit: "",         description: "Inference engine: `llama.cpp` in-process, else what the server reports (`llama-server`, `ollama`, ...)." },
    { name: "engine_version",         type: "utf8",    unit: "",         description: "Engine version or build as the engine reports it; empty when it does not say." },
    { name: "model_path",             type: "utf8",    unit: "",         description: "Model file path as given." },
    { name: "model_name",             type: "utf8",    unit: "",         description: "`general.name` of the model, or the file name." },
    { name: "model_architecture",     type: "utf8",    unit: "",         description: "`general.architecture` (`lfm2`, `llama`, ...)." },
    { name: "model_parameters",       type: "int64",   unit: "params",   description: "Parameter count from the GGUF tensor table." },
    { name: "model_file_bytes",       type: "int64",   unit: "bytes",    description: "Model file size." },
    { name: "model_tensor_bytes",     type: "int64",   unit: "bytes",    description: "Bytes of all tensors (weights a decode step reads)." },
    { name: "model_quantization",     type: "utf8",    unit: "",         description: "llama.cpp file type from `general.file_type` (`Q4_K_M`, `Q8_0`, ...); the dominant tensor type when the key is absent." },
    { name: "model_dominant_type",    type: "utf8",    unit: "",         description: "Tensor type holding the most matrix bytes (`Q4_K` in a `Q4_K_M` file)." },
    { name: "model_type_shares",      type: "utf8",    unit: "",         description: "Share of `model_tensor_bytes` per tensor type, largest first (`Q4_K:0.7012,Q6_K:0.2839,F32:0.0149`)." },
    { name: "model_sha256",           type: "utf8",    unit: "",         description: "SHA-256 of the model file." },
    { name: "model_synthetic",        type: "bool",    unit: "",         description: "True for tokentrace's synthetic models (random weights)." },
    { name: "model_preset",           type: "utf8",    unit: "",         description: "Synthetic preset name; empty for real models." },
    { name: "suite",                  type: "utf8",    unit: "",         description: "Experiment suite name or path; empty for library use." },
    { name: "seed",                   type: "int64",   unit: "",         description: "Experiment seed (run order shuffle)." },
    { name: "plan_json",              type: "utf8",    unit: "",         description: "The planned runs and settings as JSON, used by `--resume`." },
  ],
  runs: [
    { name: "session_id",           type: "utf8",    unit: "",         description: "Session the run belongs to." },
    { name: "run_id",               type: "utf8",    unit: "",         description: "Run identifier, unique in the dataset." },
    { name: "order_index",          type: "int32",   unit: "",         description: "Position of the run in the session, from 0." },
    { name: "repetition",           type: "int32",   unit: "",         description: "Repetition of this prompt and setting, from 0; warm-ups too." },
    { name: "warmup",               type: "bool",    unit: "",         description: "True for a warm-up run (recorded, left out of summaries)." },
    { name: "prompt_id",            type: "utf8",    unit: "",         description: "Prompt identifier from the suite." },
    { name: "prompt_class",         type: "utf8",    unit: "",         description: "Prompt class label (e.g. `simple`, `complex`)." },
    { name: "prompt_tags",          type: "utf8",    unit: "",         description: "Comma-separated free labels." },
    { name: "prompt_mode",          type: "utf8",    unit: "",         description: "`chat` (model's chat template) or `raw` completion." },
    { name: "prompt_text",          type: "utf8",    unit: "",         description: "Prompt text as given (before any template)." },
    { name: "prompt_tokens",        type: "int32",   unit: "tokens",   description: "Tokens evaluated for the prompt (after templating)." },
    { name: "depth_tokens",         type: "int32",   unit: "tokens",   description: "Filler tokens evaluated before the prompt." },
    { name: "max_tokens",           type: "int32",   unit: "tokens",   description: "Output token budget." },
    { name: "threads",              type: "int32",   unit: "threads",  description: "Compute threads for this run." },
    { name: "batch_size",           type: "int32",   unit: "tokens",   description: "Batch size for this run." },
    { name: "context_size",         type: "int32",   unit: "tokens",   description: "Context size for this run." },
    { name: "cpu_affinity",         type: "utf8",    unit: "",         description: "CPUs every thread of the process was pinned to during the run (`0`, `2,3`); empty when not pinned." },
    { name: "temperature",          type: "float64", unit: "",         description: "Sampling temperature (0 = greedy)." },
    { name: "top_k",                type: "int32",   unit: "",         description: "Top-k (0 = off)." },
    { name: "top_p",                type: "float64", unit: "",         description: "Top-p (1 = off)." },
    { name: "sampling_seed",        type: "int64",   unit: "",         description: "Sampler seed." },
    { name: "stop_reason",          type: "utf8",    unit: "",         description: "`eos`, `max_tokens`, `interrupted`, or `error` (the source failed mid-run; not a measured run)." },
    { name: "output_tokens",        type: "int32",   unit: "tokens",   description: "Generated tokens (rows in `tokens`)." },
    { name: "started_at_ms",        type: "float64", unit: "ms",       description: "Run start, since session start (monotonic clock)." },
    { name: "prefill_ms",           type: "float64", unit: "ms",       description: "Run start to the first token's logits being ready; empty for an endpoint (not observable)." },
    { name: "ttft_ms",              type: "float64", unit: "ms",       description: "Run start to the first generated token being available." },
    { name: "decode_ms",            type: "float64", unit: "ms",       description: "First token available to last token available." },
    { name: "total_ms",             type: "float64", unit: "ms",       description: "Run start to last token available." },
    { name: "e2e_tokens_per_s",     type: "float64", unit: "tokens/s", description: "output_tokens / total (the usually quoted rate)." },
    { name: "decode_tokens_per_s",  type: "float64", unit: "tokens/s", description: "(output_tokens - 1) / decode." },
    { name: "engine_prompt_ms",     type: "float64", unit: "ms",       description: "The engine's own prompt-evaluation time for the run (llama.cpp's prompt eval; llama-server `prompt_ms`; Ollama `prompt_eval_duration`); empty when not reported." },
    { name: "engine_prompt_tokens", type: "int32",   unit: "tokens",   description: "The engine's own prompt-evaluation token count; empty when not reported." },
    { name: "engine_decode_ms",     type: "float64", unit: "ms",       description: "The engine's own decode time for the run (llama.cpp's eval; llama-server `predicted_ms`; Ollama `eval_duration`); empty when not reported." },
    { name: "engine_decode_tokens", type: "int32",   unit: "tokens",   description: "The engine's own decode count (llama.cpp: single-token evals; servers: generated tokens); empty when not reported." },
  ],
  tokens: [
    { name: "session_id",   type: "utf8",    unit: "",         description: "Session the token belongs to." },
    { name: "run_id",       type: "utf8",    unit: "",         description: "Run the token belongs to." },
    { name: "token_index",  type: "int32",   unit: "",         description: "Index of the generated token in its run, from 0." },
    { name: "position",     type: "int32",   unit: "tokens",   description: "Context position of the token (depth + prompt + index)." },
    { name: "phase",        type: "utf8",    unit: "",         description: "`prefill` for token 0 (its latency includes prefill), else `decode`." },
    { name: "token_id",     type: "int32",   unit: "",         description: "Vocabulary id; -1 through an endpoint (the APIs send no ids)." },
    { name: "piece",        type: "utf8",    unit: "",         description: "Text of the token, decoded with its predecessors as context." },
    { name: "piece_bytes",  type: "int32",   unit: "bytes",    description: "UTF-8 byte length of the token's own bytes." },
    { name: "t_ms",         type: "float64", unit: "ms",       description: "Time since run start when the token became available." },
    { name: "latency_ms",   type: "float64", unit: "ms",       description: "t_ms minus the previous token's t_ms (token 0: ttft)." },
    { name: "chunk_tokens", type: "int32",   unit: "tokens",   description: "Tokens that arrived with this one in one read: 1 in-process and for a server chunk of one token; k > 1 for each of k tokens of one chunk (same t_ms; the first has the latency, the others 0); 0 when the row stands for a whole chunk whose tokens could not be counted." },
  ],
} as const satisfies Readonly<Record<TableName, readonly Column[]>>;

/**
 * The TypeScript type of a value of each {@linkcode ColumnType}. 64-bit integers are plain
 * numbers (exact up to 2^53), as the writer takes them.
 */
export interface ColumnValueTypes {
  /** A string. */
  utf8: string;
  /** A 32-bit integer. */
  int32: number;
  /** A 64-bit integer, as a number. */
  int64: number;
  /** A double. */
  float64: number;
  /** A boolean. */
  bool: boolean;
}

/**
 * The column names of a table, from {@linkcode SCHEMA}.
 *
 * @example A tokens column name
 * ```ts
 * import type { ColumnName } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const name: ColumnName<"tokens"> = "latency_ms";
 * assert.equal(name, "latency_ms");
 * ```
 */
export type ColumnName<T extends TableName> = (typeof SCHEMA)[T][number]["name"];

/**
 * One row of a table: every column of {@linkcode SCHEMA} under its name, typed by its column
 * type ({@linkcode ColumnValueTypes}). A type derived from the table, so a column added to
 * `SCHEMA` is a field here at once; row types that narrow some fields (a status's values, a
 * value that may be null) build on it.
 *
 * @example A tokens row
 * ```ts
 * import type { TableRow } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const token: TableRow<"tokens"> = {
 *   session_id: "s", run_id: "s-000000", token_index: 0, position: 12, phase: "prefill",
 *   token_id: 42, piece: " hi", piece_bytes: 3, t_ms: 20.5, latency_ms: 20.5, chunk_tokens: 1,
 * };
 * assert.equal(Object.keys(token).length, 11);
 * ```
 */
export type TableRow<T extends TableName> = {
  -readonly [C in (typeof SCHEMA)[T][number] as C["name"]]: ColumnValueTypes[C["type"]];
};

const pad6 = (n: number): string => String(n).padStart(6, "0");

/**
 * The dataset layout inside a dataset directory, relative to the directory. A session's runs
 * are stored either one per file pair (`run-NNNNNN.parquet`, written as each run finishes) or
 * many per file pair (`runs-AAAAAA-BBBBBB.parquet`, a range file holding runs with
 * `order_index` AAAAAA..BBBBBB of the session, written by `DatasetWriter.writeRuns()` and by
 * compaction). The globs match both kinds.
 *
 * @example Build a session's file paths
 * ```ts
 * import { LAYOUT } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(LAYOUT.tokensFile("abc", 7), "session=abc/tokens/run-000007.parquet");
 * assert.equal(LAYOUT.runsRangeFile("abc", 0, 41), "session=abc/runs/runs-000000-000041.parquet");
 * ```
 */
export const LAYOUT = {
  /** Directory of one session. */
  sessionDir: (sessionId: string): string => `session=${sessionId}`,
  /** The session's one-row `sessions` table. */
  sessionFile: (sessionId: string): string => `session=${sessionId}/session.parquet`,
  /** One run's one-row `runs` file; its presence marks the run as finished. */
  runFile: (sessionId: string, orderIndex: number): string =>
    `session=${sessionId}/runs/run-${pad6(orderIndex)}.parquet`,
  /** One run's `tokens` rows; written before its run file. */
  tokensFile: (sessionId: string, orderIndex: number): string =>
    `session=${sessionId}/tokens/run-${pad6(orderIndex)}.parquet`,
  /**
   * The `runs` rows of runs `first..last` (inclusive `order_index` range; runs missing from
   * the session are absent); its presence marks them finished.
   */
  runsRangeFile: (sessionId: string, first: number, last: number): string =>
    `session=${sessionId}/runs/runs-${pad6(first)}-${pad6(last)}.parquet`,
  /** The `tokens` rows of the runs of the same-named range file; written before it. */
  tokensRangeFile: (sessionId: string, first: number, last: number): string =>
    `session=${sessionId}/tokens/runs-${pad6(first)}-${pad6(last)}.parquet`,
  /** Glob of every `sessions` file below a dataset directory. */
  sessionsGlob: "*/session.parquet",
  /** Glob of every `runs` file below a dataset directory. */
  runsGlob: "*/runs/*.parquet",
  /** Glob of every `tokens` file below a dataset directory. */
  tokensGlob: "*/tokens/*.parquet",
} as const;

/**
 * Renders the schema as Markdown tables, one per dataset table: the README's schema
 * section is this function's output.
 *
 * @returns Markdown text with a `###` heading and a table for each dataset table.
 *
 * @example Render the schema
 * ```ts
 * import { schemaMarkdown } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.match(schemaMarkdown(), /\| `latency_ms` \| float64 \| ms \|/);
 * ```
 */
export function schemaMarkdown(): string {
  const parts: string[] = [];
  for (const table of Object.keys(SCHEMA) as TableName[]) {
    parts.push(`### \`${table}\`\n`);
    parts.push("| column | type | unit | meaning |");
    parts.push("| --- | --- | --- | --- |");
    for (const col of SCHEMA[table]) {
      parts.push(`| \`${col.name}\` | ${col.type} | ${col.unit} | ${col.description} |`);
    }
    parts.push("");
  }
  return parts.join("\n");
}
