/**
 * The trace dataset schema: one table of columns per dataset table, each with its Polars
 * dtype, unit and description. This single definition drives the Parquet writer, the
 * reader's checks and the schema section of the README.
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

const c = (name: string, type: ColumnType, unit: string, description: string): Column => ({
  name,
  type,
  unit,
  description,
});

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
export const SCHEMA: Readonly<Record<TableName, readonly Column[]>> = {
  sessions: [
    c("session_id", "utf8", "", "Session identifier, also the `session=<id>` directory name."),
    c("schema_version", "int32", "", "Dataset schema version the files were written with."),
    c("tool_version", "utf8", "", "tokentrace version that wrote the session."),
    c("status", "utf8", "", "`running`, `complete` or `interrupted`."),
    c("started_at_utc", "utf8", "", "Session start, RFC 3339 UTC."),
    c("finished_at_utc", "utf8", "", "Session end, RFC 3339 UTC; empty while running."),
    c("host", "utf8", "", "Host name."),
    c("os", "utf8", "", "Operating system and kernel release."),
    c("arch", "utf8", "", "CPU architecture (`x86_64`, `aarch64`)."),
    c("cpu_model", "utf8", "", "CPU model name."),
    c("cpu_cores", "int32", "cores", "Logical CPU cores the OS reports."),
    c("cpu_math_cores", "int32", "cores", "Physical math cores node-llama-cpp reports."),
    c("memory_bytes", "int64", "bytes", "Total system memory."),
    c(
      "gpu_requested",
      "utf8",
      "",
      "Backend asked for: `auto`, `metal`, `cuda`, `vulkan` or `cpu`.",
    ),
    c("backend", "utf8", "", "Backend in use: `metal`, `cuda`, `vulkan` or `cpu`."),
    c("gpu_name", "utf8", "", "GPU device name(s); empty on CPU."),
    c("gpu_vram_bytes", "int64", "bytes", "Total GPU memory; 0 on CPU."),
    c(
      "threads",
      "int32",
      "threads",
      "Default compute threads of the session; empty when unknown (an endpoint).",
    ),
    c("batch_size", "int32", "tokens", "Default batch size of the session; empty when unknown."),
    c(
      "context_size",
      "int32",
      "tokens",
      "Default context size of the session (an endpoint: the server's, when it says); empty when unknown.",
    ),
    c("flash_attention", "bool", "", "Whether flash attention was requested."),
    c("node_llama_cpp_version", "utf8", "", "node-llama-cpp package version."),
    c("llama_cpp_release", "utf8", "", "llama.cpp release of the loaded binary."),
    c("runtime_version", "utf8", "", "Deno (and V8) version."),
    c(
      "source",
      "utf8",
      "",
      "`in-process` (node-llama-cpp in this process) or `endpoint` (a server's streaming HTTP API).",
    ),
    c(
      "endpoint_url",
      "utf8",
      "",
      "Base URL of the traced server, without credentials; empty for in-process sessions.",
    ),
    c(
      "engine_name",
      "utf8",
      "",
      "Inference engine: `llama.cpp` in-process, else what the server reports (`llama-server`, `ollama`, ...).",
    ),
    c(
      "engine_version",
      "utf8",
      "",
      "Engine version or build as the engine reports it; empty when it does not say.",
    ),
    c("model_path", "utf8", "", "Model file path as given."),
    c("model_name", "utf8", "", "`general.name` of the model, or the file name."),
    c("model_architecture", "utf8", "", "`general.architecture` (`lfm2`, `llama`, ...)."),
    c("model_parameters", "int64", "params", "Parameter count from the GGUF tensor table."),
    c("model_file_bytes", "int64", "bytes", "Model file size."),
    c(
      "model_tensor_bytes",
      "int64",
      "bytes",
      "Bytes of all tensors (weights a decode step reads).",
    ),
    c(
      "model_quantization",
      "utf8",
      "",
      "llama.cpp file type from `general.file_type` (`Q4_K_M`, `Q8_0`, ...); the dominant tensor type when the key is absent.",
    ),
    c(
      "model_dominant_type",
      "utf8",
      "",
      "Tensor type holding the most matrix bytes (`Q4_K` in a `Q4_K_M` file).",
    ),
    c(
      "model_type_shares",
      "utf8",
      "",
      "Share of `model_tensor_bytes` per tensor type, largest first (`Q4_K:0.7012,Q6_K:0.2839,F32:0.0149`).",
    ),
    c("model_sha256", "utf8", "", "SHA-256 of the model file."),
    c("model_synthetic", "bool", "", "True for tokentrace's synthetic models (random weights)."),
    c("model_preset", "utf8", "", "Synthetic preset name; empty for real models."),
    c("suite", "utf8", "", "Experiment suite name or path; empty for library use."),
    c("seed", "int64", "", "Experiment seed (run order shuffle)."),
    c("plan_json", "utf8", "", "The planned runs and settings as JSON, used by `--resume`."),
  ],
  runs: [
    c("session_id", "utf8", "", "Session the run belongs to."),
    c("run_id", "utf8", "", "Run identifier, unique in the dataset."),
    c("order_index", "int32", "", "Position of the run in the session, from 0."),
    c("repetition", "int32", "", "Repetition of this prompt and setting, from 0; warm-ups too."),
    c("warmup", "bool", "", "True for a warm-up run (recorded, left out of summaries)."),
    c("prompt_id", "utf8", "", "Prompt identifier from the suite."),
    c("prompt_class", "utf8", "", "Prompt class label (e.g. `simple`, `complex`)."),
    c("prompt_tags", "utf8", "", "Comma-separated free labels."),
    c("prompt_mode", "utf8", "", "`chat` (model's chat template) or `raw` completion."),
    c("prompt_text", "utf8", "", "Prompt text as given (before any template)."),
    c("prompt_tokens", "int32", "tokens", "Tokens evaluated for the prompt (after templating)."),
    c("depth_tokens", "int32", "tokens", "Filler tokens evaluated before the prompt."),
    c("max_tokens", "int32", "tokens", "Output token budget."),
    c("threads", "int32", "threads", "Compute threads for this run."),
    c("batch_size", "int32", "tokens", "Batch size for this run."),
    c("context_size", "int32", "tokens", "Context size for this run."),
    c(
      "cpu_affinity",
      "utf8",
      "",
      "CPUs every thread of the process was pinned to during the run (`0`, `2,3`); empty when not pinned.",
    ),
    c("temperature", "float64", "", "Sampling temperature (0 = greedy)."),
    c("top_k", "int32", "", "Top-k (0 = off)."),
    c("top_p", "float64", "", "Top-p (1 = off)."),
    c("sampling_seed", "int64", "", "Sampler seed."),
    c(
      "stop_reason",
      "utf8",
      "",
      "`eos`, `max_tokens`, `interrupted`, or `error` (the source failed mid-run; not a measured run).",
    ),
    c("output_tokens", "int32", "tokens", "Generated tokens (rows in `tokens`)."),
    c("started_at_ms", "float64", "ms", "Run start, since session start (monotonic clock)."),
    c(
      "prefill_ms",
      "float64",
      "ms",
      "Run start to the first token's logits being ready; empty for an endpoint (not observable).",
    ),
    c("ttft_ms", "float64", "ms", "Run start to the first generated token being available."),
    c("decode_ms", "float64", "ms", "First token available to last token available."),
    c("total_ms", "float64", "ms", "Run start to last token available."),
    c(
      "e2e_tokens_per_s",
      "float64",
      "tokens/s",
      "output_tokens / total (the usually quoted rate).",
    ),
    c("decode_tokens_per_s", "float64", "tokens/s", "(output_tokens - 1) / decode."),
    c(
      "engine_prompt_ms",
      "float64",
      "ms",
      "The engine's own prompt-evaluation time for the run (llama.cpp's prompt eval; llama-server `prompt_ms`; Ollama `prompt_eval_duration`); empty when not reported.",
    ),
    c(
      "engine_prompt_tokens",
      "int32",
      "tokens",
      "The engine's own prompt-evaluation token count; empty when not reported.",
    ),
    c(
      "engine_decode_ms",
      "float64",
      "ms",
      "The engine's own decode time for the run (llama.cpp's eval; llama-server `predicted_ms`; Ollama `eval_duration`); empty when not reported.",
    ),
    c(
      "engine_decode_tokens",
      "int32",
      "tokens",
      "The engine's own decode count (llama.cpp: single-token evals; servers: generated tokens); empty when not reported.",
    ),
  ],
  tokens: [
    c("session_id", "utf8", "", "Session the token belongs to."),
    c("run_id", "utf8", "", "Run the token belongs to."),
    c("token_index", "int32", "", "Index of the generated token in its run, from 0."),
    c("position", "int32", "tokens", "Context position of the token (depth + prompt + index)."),
    c("phase", "utf8", "", "`prefill` for token 0 (its latency includes prefill), else `decode`."),
    c("token_id", "int32", "", "Vocabulary id; -1 through an endpoint (the APIs send no ids)."),
    c("piece", "utf8", "", "Text of the token, decoded with its predecessors as context."),
    c("piece_bytes", "int32", "bytes", "UTF-8 byte length of the token's own bytes."),
    c("t_ms", "float64", "ms", "Time since run start when the token became available."),
    c("latency_ms", "float64", "ms", "t_ms minus the previous token's t_ms (token 0: ttft)."),
    c(
      "chunk_tokens",
      "int32",
      "tokens",
      "Tokens that arrived with this one in one read: 1 in-process and for a server chunk of one token; k > 1 for each of k tokens of one chunk (same t_ms; the first has the latency, the others 0); 0 when the row stands for a whole chunk whose tokens could not be counted.",
    ),
  ],
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
