/**
 * The contract every trace source keeps (an in-process {@linkcode Session}, an endpoint, a
 * recording): the settings of a run ({@linkcode TraceOptions}), what a run yields
 * ({@linkcode RunSummary}, {@linkcode TokenColumns}, {@linkcode TokenEvent}) and what a source
 * records about itself ({@linkcode SessionInfo}). Types only; no source lives here.
 *
 * @module
 */

import type { GpuChoice } from "./_llama.ts";

/**
 * Why a run stopped: `eos` (end-of-generation token), `max_tokens` (budget met), `interrupted`
 * (stopped by the caller), `error` (the source failed mid-run, e.g. a server that died or hung;
 * such a run is recorded but is not a measured run).
 */
export type StopReason = "eos" | "max_tokens" | "interrupted" | "error";

/**
 * The environment of a session: the `sessions` columns from `host` to `model_preset`, with
 * the column names of {@linkcode SCHEMA} (see there for units and meaning). A value the source
 * cannot know (an endpoint's threads or model file size) is `null` (empty in Parquet) or an
 * empty string, never invented.
 */
export interface SessionInfo {
  /** Host name. */
  host: string;
  /** Operating system and kernel release. */
  os: string;
  /** CPU architecture. */
  arch: string;
  /** CPU model name. */
  cpu_model: string;
  /** Logical CPU cores. */
  cpu_cores: number;
  /** Physical math cores node-llama-cpp reports; null when node-llama-cpp is not loaded. */
  cpu_math_cores: number | null;
  /** Total system memory in bytes. */
  memory_bytes: number;
  /** Backend asked for; empty for an endpoint. */
  gpu_requested: GpuChoice | "";
  /** Backend in use: `metal`, `cuda`, `vulkan` or `cpu`. */
  backend: string;
  /** GPU device names, comma-separated; empty on CPU. */
  gpu_name: string;
  /** Total GPU memory in bytes; 0 on CPU; null when unknown. */
  gpu_vram_bytes: number | null;
  /** Default compute threads; null when unknown. */
  threads: number | null;
  /** Batch size in tokens; null when unknown. */
  batch_size: number | null;
  /** Context size in tokens; null when unknown. */
  context_size: number | null;
  /** Whether flash attention was requested; null when unknown. */
  flash_attention: boolean | null;
  /** node-llama-cpp package version. */
  node_llama_cpp_version: string;
  /** llama.cpp release of the loaded binary. */
  llama_cpp_release: string;
  /** Deno and V8 versions. */
  runtime_version: string;
  /** `in-process` or `endpoint`. */
  source: "in-process" | "endpoint";
  /** Base URL of the traced server without credentials; empty in-process. */
  endpoint_url: string;
  /** Inference engine name (`llama.cpp` in-process). */
  engine_name: string;
  /** Engine version as the engine reports it; empty when unknown. */
  engine_version: string;
  /** Model path as given. */
  model_path: string;
  /** `general.name`, or the file name. */
  model_name: string;
  /** `general.architecture`. */
  model_architecture: string;
  /** Parameter count; null when unknown. */
  model_parameters: number | null;
  /** Model file size in bytes; null when unknown. */
  model_file_bytes: number | null;
  /** Bytes of all tensors; null when unknown. */
  model_tensor_bytes: number | null;
  /** llama.cpp file type (`general.file_type`), else the dominant tensor type; empty when unknown. */
  model_quantization: string;
  /** Tensor type holding the most matrix bytes; empty when unknown. */
  model_dominant_type: string;
  /** Share of the tensor bytes per tensor type, `TYPE:share` comma-separated, largest first; empty when unknown. */
  model_type_shares: string;
  /** SHA-256 of the model file, hex. */
  model_sha256: string;
  /** True for tokentrace's synthetic models. */
  model_synthetic: boolean;
  /** Synthetic preset name; empty for real models. */
  model_preset: string;
}

/** Options of one traced generation. */
export interface TraceOptions {
  /**
   * `chat` wraps the prompt as one user message in the model's chat template (no system
   * prompt) and opens the assistant turn; `raw` tokenizes it as is (with BOS if the model wants one).
   * @default {"chat"}
   */
  mode?: "chat" | "raw";
  /**
   * Output token budget. An end-of-generation token, when sampled, is the run's last token.
   * @default {128}
   */
  maxTokens?: number;
  /**
   * Sampling temperature; 0 is greedy.
   * @default {0}
   */
  temperature?: number;
  /**
   * Top-k; 0 is off.
   * @default {40}
   */
  topK?: number;
  /**
   * Top-p; 1 is off.
   * @default {0.95}
   */
  topP?: number;
  /**
   * Sampler seed (used when temperature > 0).
   * @default {0}
   */
  seed?: number;
  /**
   * Filler tokens evaluated before the prompt, in the same prefill, so that decoding starts
   * this far into the context (like llama-bench's depth).
   * @default {0}
   */
  depth?: number;
  /**
   * Prompt identifier label.
   * @default {""}
   */
  promptId?: string;
  /**
   * Prompt class label.
   * @default {""}
   */
  promptClass?: string;
  /**
   * Free labels; none may contain a comma.
   * @default {[]}
   */
  tags?: readonly string[];
  /**
   * Compute threads for this run (set on the context before the run starts, outside its
   * timings; the context and its memory stay).
   * @default {the session's threads}
   */
  threads?: number;
  /**
   * Batch size for this run; a value other than the current context's recreates the context.
   * @default {the session's batch size}
   */
  batchSize?: number;
  /**
   * Context size for this run; a value other than the current context's recreates the context.
   * @default {the session's context size}
   */
  contextSize?: number;
  /**
   * Stops the run after the token in flight (stop reason `interrupted`).
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * With more than one thread, when Deno's blocking pool has more than one idle thread, first
   * wait for them to exit (see {@linkcode settleBlockingPool}): otherwise decode calls move
   * between pool threads and, on a machine with as many cores as threads, decode can take up
   * to twice as long. The first multi-threaded run of a process waits about 10 s; later runs
   * wait only when a race added a pool thread meanwhile. The wait happens before the run's
   * clock starts. Not recorded.
   * @default {true}
   */
  settleThreadPool?: boolean;
  /**
   * Called when the run is about to wait for Deno's pool to settle (see `settleThreadPool`),
   * so a caller can say why nothing happens for up to 11 s.
   * @default {undefined}
   */
  onThreadPoolWait?: () => void;
  /**
   * Called during a prefill of more than one batch, once per finished batch but the last, with
   * the input tokens evaluated so far, the input tokens in all, and the ms since the run's
   * clock started. It costs the measured prefill one clock read per batch (of `batchSize`
   * tokens) and is called just after the next batch has been handed to llama.cpp, so it runs
   * while that batch decodes instead of delaying it; nothing is added per token. The last
   * batch is not reported: the first token follows it.
   * @default {undefined}
   */
  onPrefillBatch?: (done: number, total: number, elapsedMs: number) => void;
  /**
   * CPU affinity of the process during the run, recorded as `cpu_affinity`.
   * - `"auto"`: a one-thread run pins every thread of the process to the CPU the calling
   *   thread is on, so the scheduler cannot move decode steps between CPUs (on the 2-core
   *   benchmark machine one-thread decode ran 1.14x [95% CI 1.07–1.21] as fast pinned, 24
   *   paired runs; BENCHMARKS.md, investigation section 5). Multi-thread runs are not pinned.
   *   Nothing is pinned where {@linkcode canPinThreads} is false (not Linux, or no
   *   `--allow-ffi`).
   * - `"off"`: never pin.
   * - a list of CPUs: pin every thread to these CPUs for the run, whatever the thread count;
   *   a `RangeError` when that cannot be done.
   *
   * The affinity from before the run is restored when it ends.
   * @default {"auto"}
   */
  cpuAffinity?: "auto" | "off" | readonly number[];
}

/**
 * The timings and counts of one run: the `runs` columns from `prompt_id` to
 * `engine_decode_tokens`, with the column names of {@linkcode SCHEMA}. A value the source cannot
 * know is `null` (empty in Parquet), never invented.
 */
export interface RunSummary {
  /** Prompt identifier label. */
  prompt_id: string;
  /** Prompt class label. */
  prompt_class: string;
  /** Comma-separated labels. */
  prompt_tags: string;
  /** `chat` or `raw`. */
  prompt_mode: "chat" | "raw";
  /** Prompt text as given. */
  prompt_text: string;
  /** Prompt tokens after templating. */
  prompt_tokens: number;
  /** Filler tokens before the prompt. */
  depth_tokens: number;
  /** Output token budget. */
  max_tokens: number;
  /** Compute threads; null when unknown (an endpoint). */
  threads: number | null;
  /** Batch size; null when unknown. */
  batch_size: number | null;
  /** Context size; null when unknown. */
  context_size: number | null;
  /** CPUs the process was pinned to during the run (`0`, `2,3`); empty when not pinned. */
  cpu_affinity: string;
  /** Sampling temperature. */
  temperature: number;
  /** Top-k. */
  top_k: number;
  /** Top-p. */
  top_p: number;
  /** Sampler seed. */
  sampling_seed: number;
  /** Why the run stopped. */
  stop_reason: StopReason;
  /** Generated tokens. */
  output_tokens: number;
  /** Run start since the session opened, ms. */
  started_at_ms: number;
  /** Run start to the first token's logits being ready, ms; null when unknown (an endpoint). */
  prefill_ms: number | null;
  /** Run start to the first token being available, ms. */
  ttft_ms: number;
  /** First token available to last token available, ms. */
  decode_ms: number;
  /** Run start to last token available, ms. */
  total_ms: number;
  /** output_tokens / total. */
  e2e_tokens_per_s: number;
  /** (output_tokens - 1) / decode; NaN for a one-token run. */
  decode_tokens_per_s: number;
  /** The engine's own prompt-evaluation time, ms (in-process: llama.cpp's prompt eval); null when not reported. */
  engine_prompt_ms: number | null;
  /** The engine's own prompt-evaluation token count; null when not reported. */
  engine_prompt_tokens: number | null;
  /** The engine's own decode time, ms (in-process: llama.cpp's eval); null when not reported. */
  engine_decode_ms: number | null;
  /** The engine's own decode count (in-process: single-token evals); null when not reported. */
  engine_decode_tokens: number | null;
}

/**
 * One run's tokens, column by column (one entry per generated token), with the `tokens`
 * column names of {@linkcode SCHEMA} other than `session_id` and `run_id`.
 */
export interface TokenColumns {
  /** Index of the token in the run, from 0. */
  token_index: Int32Array;
  /** Context position: depth + prompt tokens + index. */
  position: Int32Array;
  /** `prefill` for token 0, else `decode`. */
  phase: string[];
  /** Vocabulary id. */
  token_id: Int32Array;
  /** Text the token completes, decoded with its predecessors as context. */
  piece: string[];
  /** UTF-8 byte length of the token's own bytes. */
  piece_bytes: Int32Array;
  /** Time since run start when the token became available, ms. */
  t_ms: Float64Array;
  /** t_ms minus the previous token's t_ms (token 0: ttft), ms. */
  latency_ms: Float64Array;
  /** Tokens that arrived in the same read as this one (1 in-process; see {@linkcode SCHEMA}). */
  chunk_tokens: Int32Array;
}

/** A traced run: its summary and its tokens. */
export interface TraceResult {
  /** Timings and counts. */
  summary: RunSummary;
  /** Per-token columns. */
  tokens: TokenColumns;
}

/** A token as it becomes available, for live display. */
export interface TokenEvent {
  /** Index of the token in the run, from 0. */
  index: number;
  /** Vocabulary id. */
  tokenId: number;
  /** Time since run start when the token became available, ms. */
  tMs: number;
}

/**
 * A run in progress: an async iterable of token events, and the run's result. Events are
 * delivered on a later macrotask than the token itself, after the next decode step has been
 * dispatched, so the consumer's work overlaps native decoding instead of delaying it. Leaving
 * the loop early stops the run after the token in flight.
 */
export interface TraceStream extends AsyncIterable<TokenEvent> {
  /** The run's result, once it has ended. */
  readonly result: Promise<TraceResult>;
}

/**
 * Anything that traces runs one at a time the way a {@linkcode Session} does: the thing an
 * experiment runs on (see `runSuite()`). A {@linkcode Session} on a GGUF file is one; another
 * source (an HTTP endpoint, a recording) implements the same members, filling `info` and each
 * run's summary and tokens with the columns of `SCHEMA` as well as it can.
 *
 * @example A session is a trace source
 * ```ts
 * import type { Session, TraceSource } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const asSource = (session: Session): TraceSource => session;
 * assert.equal(typeof asSource, "function");
 * ```
 */
export interface TraceSource {
  /** The environment and settings: the `sessions` columns from `host` to `model_preset`. */
  readonly info: SessionInfo;
  /**
   * Warnings the source logged since it opened, oldest first; a runner reports the new ones
   * after each run. Optional: a source without a log leaves it out.
   */
  readonly warnings?: readonly string[];
  /**
   * Traces one generation from a clean context.
   *
   * @param prompt The prompt text.
   * @param options Mode, budget, sampling, depth, labels, threads, stop signal.
   * @returns The run's summary and tokens.
   */
  trace(prompt: string, options?: TraceOptions): Promise<TraceResult>;
  /**
   * Traces one generation, yielding each token as it becomes available; stops after the token
   * in flight when `options.signal` aborts (stop reason `interrupted`).
   *
   * @param prompt The prompt text.
   * @param options Mode, budget, sampling, depth, labels, threads, stop signal.
   * @returns The token events and the run's result.
   */
  stream(prompt: string, options?: TraceOptions): TraceStream;
  /**
   * Counts the tokens runs would evaluate for prompts (after the chat template in `chat`
   * mode), so a runner can check that depth + prompt + output fit the context before running.
   * Optional: without it, the check is left to each run.
   *
   * @param prompts The prompts.
   * @returns One count per prompt, in order.
   */
  countPromptTokens?(prompts: readonly PromptText[]): Promise<number[]>;
  /** Frees what the source holds. */
  close(): Promise<void>;
}

/** A prompt to count: its text and how it becomes tokens. */
export interface PromptText {
  /** The prompt text. */
  text: string;
  /**
   * `chat` or `raw`, as in {@linkcode TraceOptions.mode}.
   * @default {"chat"}
   */
  mode?: "chat" | "raw";
}
