/**
 * The tracer: open a session on a GGUF model with explicit settings, then trace generations,
 * timing every token as it becomes available, with llama.cpp's own counters alongside.
 *
 * @module
 */

import {
  type ChatWrapper,
  getModuleVersion,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  resolveChatWrapper,
  type Token,
} from "node-llama-cpp";
import { hostInfo, sha256File } from "../schema/_env.ts";
import { formatTypeShares, readGguf } from "../gguf/reader.ts";
import { validateGguf } from "../gguf/validate.ts";
import { tokenPieces, vocabByteLengths } from "./_pieces.ts";
import type { LlamaPerf } from "./_perf.ts";
import { type GpuChoice, llamaWarnings, readPerf, resetPerf } from "./_llama.ts";
import { loadedBackend, loadLlama } from "./backend.ts";
import { allowedCpus, autoPin, foreignCpu, pinProcessThreads } from "../runtime/affinity.ts";
import { blockingPoolThreads, settleBlockingPool } from "../runtime/pool.ts";

export type { GpuChoice };

/** Why a run stopped. */
/**
 * Why a run stopped: `eos` (end-of-generation token), `max_tokens` (budget met), `interrupted`
 * (stopped by the caller), `error` (the source failed mid-run, e.g. a server that died or hung;
 * such a run is recorded but is not a measured run).
 */
export type StopReason = "eos" | "max_tokens" | "interrupted" | "error";

/** Settings of a session; each becomes a column of the `sessions` table. */
export interface SessionOptions {
  /**
   * Compute threads. Never node-llama-cpp's CPU default of `max(4, cores)`, which
   * oversubscribes small machines.
   * @default {the physical cores node-llama-cpp reports (`llama.cpuMathCores`)}
   */
  threads?: number;
  /**
   * Compute backend.
   * @default {"auto"}
   */
  gpu?: GpuChoice;
  /**
   * Context size in tokens; depth + prompt + output tokens of a run must fit in it.
   * @default {the smaller of 4096 and the model's training context}
   */
  contextSize?: number;
  /**
   * Batch size in tokens (prompt evaluation is split into batches of this size).
   * @default {512}
   */
  batchSize?: number;
  /**
   * Whether to use flash attention.
   * @default {false}
   */
  flashAttention?: boolean;
}

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

/** An open model with its context, ready to trace runs one at a time. */
export interface Session extends TraceSource {
  /** The environment and settings of the session. */
  readonly info: SessionInfo;
  /** Warnings and errors llama.cpp logged since the session opened. */
  readonly warnings: readonly string[];
  /**
   * Counts the tokens runs of this session would evaluate for prompts (after the chat
   * template in `chat` mode; depth filler not included).
   *
   * @param prompts The prompts.
   * @returns One count per prompt, in order.
   */
  countPromptTokens(prompts: readonly PromptText[]): Promise<number[]>;
  /**
   * Traces one generation from a clean context.
   *
   * @param prompt The prompt text.
   * @param options Mode, budget, sampling, depth, labels, threads.
   * @returns The run's summary and tokens.
   */
  trace(prompt: string, options?: TraceOptions): Promise<TraceResult>;
  /**
   * Traces one generation from a clean context, yielding each token as it becomes available.
   *
   * @param prompt The prompt text.
   * @param options Mode, budget, sampling, depth, labels, threads.
   * @returns The token events and the run's result.
   */
  stream(prompt: string, options?: TraceOptions): TraceStream;
  /** Frees the context and the model (the process keeps its one llama.cpp binding). */
  close(): Promise<void>;
}

const DEFAULT_CONTEXT = 4096;

// Deno's blocking pool runs node-llama-cpp's native calls. With one idle pool thread, every
// decode and sampling call runs on it. With two or more, which thread takes a call depends on
// races between a thread finishing its last call and the next call arriving, so the decode
// calls move between threads and at 2 compute threads decode runs 20-40% slower (measured:
// BENCHMARKS.md, investigation). A race can add a second thread during a run. So a
// multi-threaded run first lets idle threads exit when the pool has more than one thread
// beyond `poolBaseline`: the threads that did not exit at the last settling (blocked elsewhere
// for good, e.g. by a test runner).
let poolBaseline = 0;
const poolGrew = (): boolean => (blockingPoolThreads() ?? 0) > poolBaseline + 1;
const DEFAULT_BATCH = 512;

// Deterministic filler for `depth`: tokenized once per session, repeated to the length asked.
const FILLER_TEXT = "The quick brown fox jumps over the lazy dog while the river runs past " +
  "the old mill, and the miller counts sacks of grain in the evening light. ";

function positiveInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot ${what}: expected a positive integer, found ${value}`);
  }
}

function nonNegativeInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`Cannot ${what}: expected an integer >= 0, found ${value}`);
  }
}

function checkGpu(what: string, gpu: string): void {
  if (!["auto", "metal", "cuda", "vulkan", "cpu"].includes(gpu)) {
    throw new TypeError(
      `Cannot ${what}: gpu must be auto, metal, cuda, vulkan or cpu, found ${JSON.stringify(gpu)}`,
    );
  }
}

function checkMode(what: string, mode: string): void {
  if (mode !== "chat" && mode !== "raw") {
    throw new TypeError(
      `Cannot ${what}: mode must be "chat" or "raw", found ${JSON.stringify(mode)}`,
    );
  }
}

function stringMeta(info: { metadata: Readonly<Record<string, unknown>> }, key: string): string {
  const entry = info.metadata[key] as { type?: string; value?: unknown } | undefined;
  return entry?.type === "string" ? String(entry.value) : "";
}

function arrayMeta(
  info: { metadata: Readonly<Record<string, unknown>> },
  key: string,
): readonly unknown[] {
  const entry = info.metadata[key] as { type?: string; values?: readonly unknown[] } | undefined;
  return entry?.type === "array" ? entry.values ?? [] : [];
}

// node-llama-cpp 3.21.1 internals the decode loop drives directly. LlamaContext#_ctx is the
// native context: initBatch/addToBatch fill llama.cpp's batch, decodeBatch() runs llama_decode
// + llama_synchronize on a worker thread, sampleToken() samples (and accepts) a token from a
// logits row on a worker thread. Going through sequence.evaluate() instead costs ~0.45 ms of
// JS per token (queue, locks, generators, sampler configuration through N-API every token)
// and cannot tell prefill from the first sampling; see BENCHMARKS.md.
/** node-llama-cpp's native context calls the decode loop uses (internal). */
interface NativeContext {
  initBatch(size: number): void;
  addToBatch(
    sequenceId: number,
    firstPosition: number,
    tokens: Uint32Array,
    logitIndexes: Uint32Array,
  ): ArrayLike<number>;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler): Promise<Token>;
  removeTokenCellsFromSequence(sequenceId: number, start: number, end: number): boolean;
  setThreads(threads: number): void;
}

// node-llama-cpp 3.21.1's native sampler, `llama._bindings.AddonSampler`.
interface NativeSampler {
  applyConfig(config: object): void;
  dispose(): void;
}

/** The node-llama-cpp internals the decode loop uses (internal; the overhead bench uses it). */
export interface NativeInternals {
  context: NativeContext;
  sequenceId: number;
  newSampler(): NativeSampler;
  samplerConfig(options: { temperature: number; topK: number; topP: number; seed: number }): object;
}

const NATIVE_METHODS = [
  "initBatch",
  "addToBatch",
  "decodeBatch",
  "sampleToken",
  "removeTokenCellsFromSequence",
  "setThreads",
] as const;

/** The internals of node-llama-cpp the decode loop uses, or undefined when one is missing. */
export function nativeInternals(
  llama: Llama,
  model: LlamaModel,
  context: LlamaContext,
  sequence: LlamaContextSequence,
): NativeInternals | undefined {
  const native = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  const Sampler = (llama as unknown as {
    _bindings?: { AddonSampler?: new (model: unknown) => NativeSampler };
  })._bindings?.AddonSampler;
  const nativeModel = (model as unknown as { _model?: unknown })._model;
  const seq = sequence as unknown as {
    _sequenceId?: unknown;
    _resolveSamplerConfig?: (options: object) => object;
  };
  if (
    native === undefined || NATIVE_METHODS.some((name) => typeof native[name] !== "function") ||
    typeof Sampler !== "function" || nativeModel === undefined ||
    typeof seq._sequenceId !== "number" || typeof seq._resolveSamplerConfig !== "function"
  ) {
    return undefined;
  }
  return {
    context: native as unknown as NativeContext,
    sequenceId: seq._sequenceId,
    newSampler: () => new Sampler(nativeModel),
    // The configuration sequence.evaluate() would apply, so sampling is the same.
    samplerConfig: (options) => seq._resolveSamplerConfig!.call(sequence, options),
  };
}

/**
 * Opens a session: validates the GGUF file, loads it with node-llama-cpp and creates a context
 * with the given settings, and records the environment.
 *
 * @param model Path of a GGUF model file.
 * @param options Threads, backend, context and batch size, flash attention.
 * @returns The open session; close it with `session.close()`.
 * @throws {GgufError} When the file is not a GGUF model llama.cpp can load.
 * @throws {BackendError} When `gpu` names a backend (`metal`, `cuda`, `vulkan`) other than
 * the one node-llama-cpp loaded.
 * @throws {RangeError} When a numeric option is not a positive integer.
 *
 * @example Trace one run
 * ```ts ignore
 * // Needs a model file: `deno task synth --preset lfm2-350m --dtype q8_0` writes one.
 * import { openSession } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const session = await openSession("data/models/lfm2-350m-q8_0.gguf", { threads: 1 });
 * const run = await session.trace("Count 1 to 10", { maxTokens: 30 });
 * assert.equal(run.tokens.t_ms.length, run.summary.output_tokens);
 * assert.ok(run.summary.ttft_ms >= run.summary.prefill_ms);
 * await session.close();
 * ```
 */
export async function openSession(model: string, options: SessionOptions = {}): Promise<Session> {
  const { threads, gpu = "auto", contextSize, batchSize = DEFAULT_BATCH, flashAttention = false } =
    options;
  checkGpu("open session", gpu);
  if (threads !== undefined) positiveInt("open session with this thread count", threads);
  if (contextSize !== undefined) positiveInt("open session with this context size", contextSize);
  positiveInt("open session with this batch size", batchSize);

  const gguf = await readGguf(model);
  validateGguf(gguf);

  const warningsFrom = llamaWarnings.length;
  const llama = await loadLlama(gpu, "open session");
  const [llamaModel, sha256] = await Promise.all([
    llama.loadModel({ modelPath: model }),
    sha256File(model),
  ]);
  try {
    const defaultThreads = threads ?? llama.cpuMathCores;
    const size = contextSize ??
      Math.min(DEFAULT_CONTEXT, gguf.contextLength ?? llamaModel.trainContextSize);
    const [gpuNames, vram] = await Promise.all([
      llama.getGpuDeviceNames(),
      llama.getVramState(),
    ]);
    const release = `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`;
    const info: InProcessInfo = {
      ...hostInfo(),
      cpu_math_cores: llama.cpuMathCores,
      gpu_requested: gpu,
      backend: loadedBackend(llama),
      gpu_name: gpuNames.join(", "),
      gpu_vram_bytes: vram.total,
      threads: defaultThreads,
      batch_size: batchSize,
      context_size: size,
      flash_attention: flashAttention,
      node_llama_cpp_version: await getModuleVersion(),
      llama_cpp_release: release,
      source: "in-process",
      endpoint_url: "",
      engine_name: "llama.cpp",
      engine_version: release,
      model_path: model,
      model_name: gguf.name,
      model_architecture: gguf.architecture ?? "",
      model_parameters: gguf.parameterCount,
      model_file_bytes: gguf.fileBytes,
      model_tensor_bytes: gguf.tensorBytes,
      model_quantization: gguf.quantization ?? "",
      model_dominant_type: gguf.dominantQuantization ?? "",
      model_type_shares: formatTypeShares(gguf.tensorTypeBytes),
      model_sha256: sha256,
      model_synthetic: gguf.synthetic,
      model_preset: stringMeta(gguf, "tokentrace.preset"),
    };
    const vocabBytes = vocabByteLengths(
      stringMeta(gguf, "tokenizer.ggml.model"),
      arrayMeta(gguf, "tokenizer.ggml.tokens").map(String),
      arrayMeta(gguf, "tokenizer.ggml.token_type").map(Number),
    );
    const session = new TracerSession(
      llama,
      llamaModel,
      info,
      vocabBytes,
      eogLookup(llamaModel, vocabBytes.length),
      warningsFrom,
    );
    const context = await session.useContext(defaultThreads, batchSize, size);
    info.context_size = context.contextSize;
    return session;
  } catch (error) {
    await llamaModel.dispose();
    throw error;
  }
}

/**
 * End-of-generation flags by token id (1 = the model stops on it), asked of llama.cpp once
 * per vocabulary entry when the session opens, so the decode loop reads an array instead of
 * making a native call per token.
 */
function eogLookup(model: LlamaModel, vocabSize: number): Uint8Array {
  const eog = new Uint8Array(vocabSize);
  for (let token = 0; token < vocabSize; token++) {
    if (model.isEogToken(token as Token)) eog[token] = 1;
  }
  return eog;
}

/** The tokens a run evaluates for a prompt (after the chat template in chat mode). */
function promptTokens(
  model: LlamaModel,
  chatWrapper: ChatWrapper | undefined,
  prompt: string,
  mode: "chat" | "raw",
): Token[] {
  if (mode === "chat") {
    const { contextText } = (chatWrapper ?? resolveChatWrapper(model)).generateContextState({
      chatHistory: [{ type: "user", text: prompt }, { type: "model", response: [] }],
    });
    return contextText.tokenize(model.tokenizer);
  }
  const tokens = model.tokenize(prompt, false);
  const bos = model.tokens.bos;
  return bos !== null && model.tokens.shouldPrependBosToken ? [bos, ...tokens] : tokens;
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

/** Options of {@linkcode countPromptTokens}. */
export interface CountPromptTokensOptions {
  /**
   * Compute backend; the process keeps one, so pass the one sessions will use.
   * @default {"auto"}
   */
  gpu?: GpuChoice;
}

/**
 * Counts the tokens runs would evaluate for prompts (after the chat template in `chat` mode;
 * depth filler not included), loading only the model's vocabulary: lets a caller check that
 * depth + prompt + output tokens fit a context size before opening a session.
 *
 * @param model Path of a GGUF model file.
 * @param prompts The prompts.
 * @param options The backend.
 * @returns One count per prompt, in order.
 * @throws {GgufError} When the file is not a GGUF model llama.cpp can load.
 * @throws {BackendError} When `gpu` names a backend other than the one node-llama-cpp loaded.
 *
 * @example Count a chat and a raw prompt
 * ```ts ignore
 * // Needs a model file: `deno task synth --preset lfm2-350m --dtype q8_0` writes one.
 * import { countPromptTokens } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const [chat, raw] = await countPromptTokens("data/models/lfm2-350m-q8_0.gguf", [
 *   { text: "Count 1 to 10" },
 *   { text: "Count 1 to 10", mode: "raw" },
 * ]);
 * assert.ok(chat > raw);
 * ```
 */
export async function countPromptTokens(
  model: string,
  prompts: readonly PromptText[],
  options: CountPromptTokensOptions = {},
): Promise<number[]> {
  const { gpu = "auto" } = options;
  checkGpu("count prompt tokens", gpu);
  for (const { mode = "chat" } of prompts) checkMode("count prompt tokens", mode);
  validateGguf(await readGguf(model));
  const llama = await loadLlama(gpu, "count prompt tokens");
  const vocab = await llama.loadModel({ modelPath: model, vocabOnly: true });
  try {
    const wrapper = prompts.some((p) => (p.mode ?? "chat") === "chat")
      ? resolveChatWrapper(vocab)
      : undefined;
    return prompts.map(({ text, mode = "chat" }) =>
      promptTokens(vocab, wrapper, text, mode).length
    );
  } finally {
    await vocab.dispose();
  }
}

/** An in-process session's info: its settings are always known. */
interface InProcessInfo extends SessionInfo {
  threads: number;
  batch_size: number;
  context_size: number;
  flash_attention: boolean;
}

class TracerSession implements Session {
  readonly info: InProcessInfo;
  readonly #llama: Llama;
  readonly #model: LlamaModel;
  readonly #warningsFrom: number;
  readonly #vocabBytes: Int32Array;
  readonly #eog: Uint8Array;
  readonly #openedAt = performance.now();
  #context: LlamaContext | undefined;
  #sequence: LlamaContextSequence | undefined;
  #settings = "";
  #busy = false;
  #filler: Token[] | undefined;
  #chatWrapper: ChatWrapper | undefined;
  #native: NativeInternals | undefined;

  constructor(
    llama: Llama,
    model: LlamaModel,
    info: InProcessInfo,
    vocabBytes: Int32Array,
    eog: Uint8Array,
    warningsFrom: number,
  ) {
    this.#llama = llama;
    this.#model = model;
    this.#warningsFrom = warningsFrom;
    this.info = info;
    this.#vocabBytes = vocabBytes;
    this.#eog = eog;
  }

  get warnings(): readonly string[] {
    return llamaWarnings.slice(this.#warningsFrom);
  }

  /**
   * The context for these settings, created (again) when its batch or context size differ from
   * the current one's; a thread count change is a call to llama.cpp (`llama_set_n_threads`).
   */
  async useContext(threads: number, batchSize: number, contextSize: number): Promise<LlamaContext> {
    const settings = `${batchSize}/${contextSize}`;
    if (this.#context !== undefined && this.#settings === settings) {
      this.#native!.context.setThreads(threads);
      return this.#context;
    }
    await this.#context?.dispose();
    this.#context = undefined;
    const context = await this.#model.createContext({
      contextSize,
      batchSize,
      flashAttention: this.info.flash_attention,
      threads,
      sequences: 1,
      performanceTracking: true,
      failedCreationRemedy: false,
    });
    const sequence = context.getSequence();
    const native = nativeInternals(this.#llama, this.#model, context, sequence);
    if (native === undefined) {
      await context.dispose();
      throw new Error(
        `Cannot trace with node-llama-cpp ${this.info.node_llama_cpp_version}: its native decode and sampling calls are not where tokentrace expects them (tokentrace needs node-llama-cpp 3.21.1)`,
      );
    }
    this.#context = context;
    this.#sequence = sequence;
    this.#native = native;
    this.#settings = settings;
    return context;
  }

  countPromptTokens(prompts: readonly PromptText[]): Promise<number[]> {
    for (const { mode = "chat" } of prompts) checkMode("count prompt tokens", mode);
    return Promise.resolve(
      prompts.map(({ text, mode = "chat" }) => this.#promptTokens(text, mode).length),
    );
  }

  trace(prompt: string, options: TraceOptions = {}): Promise<TraceResult> {
    return this.#run(prompt, options, undefined, undefined);
  }

  stream(prompt: string, options: TraceOptions = {}): TraceStream {
    // Events wait in `pending` until a macrotask moves them to `ready`: by then the next
    // decode step has been dispatched, so the consumer runs while llama.cpp computes.
    let pending: TokenEvent[] = [];
    const ready: TokenEvent[] = [];
    let scheduled = false;
    let ended = false;
    let failure: unknown;
    let stopRequested = false;
    let wake: (() => void) | undefined;
    const flush = (): void => {
      scheduled = false;
      ready.push(...pending);
      pending = [];
      wake?.();
      wake = undefined;
    };
    const result = this.#run(prompt, options, (index, tokenId, tMs) => {
      pending.push({ index, tokenId, tMs });
      if (!scheduled) {
        scheduled = true;
        setTimeout(flush, 0);
      }
    }, () => stopRequested);
    const end = (error?: unknown): void => {
      failure = error;
      ended = true;
      flush();
    };
    result.then(() => end(), end);
    const iterator: AsyncIterator<TokenEvent> = {
      async next(): Promise<IteratorResult<TokenEvent>> {
        while (true) {
          const event = ready.shift();
          if (event !== undefined) return { value: event, done: false };
          if (ended) {
            if (failure !== undefined) throw failure;
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => wake = resolve);
        }
      },
      return(): Promise<IteratorResult<TokenEvent>> {
        stopRequested = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    return { result, [Symbol.asyncIterator]: () => iterator };
  }

  async #run(
    prompt: string,
    options: TraceOptions,
    onToken: ((index: number, tokenId: number, tMs: number) => void) | undefined,
    stopRequested: (() => boolean) | undefined,
  ): Promise<TraceResult> {
    const {
      mode = "chat",
      maxTokens = 128,
      temperature = 0,
      topK = 40,
      topP = 0.95,
      seed = 0,
      depth = 0,
      promptId = "",
      promptClass = "",
      tags = [],
      threads = this.info.threads,
      batchSize = this.info.batch_size,
      contextSize = this.info.context_size,
      signal,
      settleThreadPool = true,
      onThreadPoolWait,
      onPrefillBatch,
      cpuAffinity = "auto",
    } = options;
    checkMode("trace", mode);
    positiveInt("trace with this max tokens", maxTokens);
    nonNegativeInt("trace with this depth", depth);
    positiveInt("trace with this thread count", threads);
    positiveInt("trace with this batch size", batchSize);
    positiveInt("trace with this context size", contextSize);
    nonNegativeInt("trace with this top-k", topK);
    nonNegativeInt("trace with this seed", seed);
    if (!(temperature >= 0)) {
      throw new RangeError(`Cannot trace: temperature must be >= 0, found ${temperature}`);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new RangeError(`Cannot trace: top-p must be in (0, 1], found ${topP}`);
    }
    const badTag = tags.find((tag) => tag.includes(","));
    if (badTag !== undefined) {
      throw new RangeError(
        `Cannot trace: tags must not contain ",", found ${JSON.stringify(badTag)}`,
      );
    }
    if (cpuAffinity !== "auto" && cpuAffinity !== "off") {
      if (!Array.isArray(cpuAffinity) || cpuAffinity.length === 0) {
        throw new RangeError(
          `Cannot trace: cpuAffinity must be "auto", "off" or a list of CPUs, found ${
            JSON.stringify(cpuAffinity)
          }`,
        );
      }
      const allowed = allowedCpus();
      if (allowed === undefined) {
        throw new RangeError(
          `Cannot trace pinned to CPUs ${
            cpuAffinity.join(",")
          }: setting thread affinity needs Linux and Deno's --allow-ffi; use cpuAffinity "auto" or "off"`,
        );
      }
      const bad = foreignCpu(cpuAffinity, allowed);
      if (bad !== undefined) {
        throw new RangeError(
          `Cannot trace pinned to CPU ${bad}: this process may run on CPUs ${
            allowed.join(",")
          } only`,
        );
      }
    }
    if (this.#busy) {
      throw new Error("Cannot trace: another run of this session is in progress");
    }
    this.#busy = true;
    try {
      const promptTokens = this.#promptTokens(prompt, mode);
      if (promptTokens.length + depth === 0) {
        throw new RangeError("Cannot trace: the prompt has no tokens and depth is 0");
      }
      const needed = depth + promptTokens.length + maxTokens;
      if (needed > contextSize) {
        throw new RangeError(
          `Cannot trace ${
            JSON.stringify(promptId || prompt.slice(0, 40))
          }: depth ${depth} + prompt tokens ${promptTokens.length} + max tokens ${maxTokens} = ${needed} exceeds the context size ${contextSize}`,
        );
      }
      const context = await this.useContext(threads, batchSize, contextSize);
      const sequence = this.#sequence!;
      const native = this.#native!;
      await sequence.clearHistory();
      const input = Uint32Array.from(
        depth === 0 ? promptTokens : [...this.#fillerTokens(depth), ...promptTokens],
      );
      if (settleThreadPool && threads > 1 && poolGrew()) {
        onThreadPoolWait?.();
        poolBaseline = (await settleBlockingPool({ maxThreads: 0 })).after ?? 0;
      }
      await resetPerf(this.#llama, context);
      const sampler = native.newSampler();
      sampler.applyConfig(native.samplerConfig({ temperature, topK, topP, seed }));

      // Hot path: one clock read per token into preallocated arrays; nothing else per token
      // but the stop checks (and the event callback when streaming). Sampling is configured
      // once per run, and the batch calls go straight to llama.cpp's context.
      const ctx = native.context;
      const seqId = native.sequenceId;
      const chunk = context.batchSize;
      const times = new Float64Array(maxTokens);
      const ids = new Int32Array(maxTokens);
      const one = new Uint32Array(1);
      const firstRow = Uint32Array.of(0);
      const noRows = new Uint32Array(0);
      const eog = this.#eog;
      const model = this.#model;
      let n = 0;
      let position = 0;
      let stopReason: StopReason = "max_tokens";
      let prefillMs = Number.NaN;
      // Pinned before the clock starts; restored in the finally below.
      const pin = cpuAffinity === "off"
        ? undefined
        : cpuAffinity === "auto"
        ? autoPin(threads)
        : pinProcessThreads(cpuAffinity);
      const start = performance.now();
      try {
        // Prefill: depth filler and prompt in batches of the context's batch size; logits for
        // the last input token only.
        let row = 0;
        // The batch before this one, reported once this one is in llama.cpp's hands.
        let reportDone = 0;
        let reportMs = 0;
        for (let from = 0; from < input.length; from += chunk) {
          const tokens = input.subarray(from, from + chunk);
          const last = from + tokens.length === input.length;
          ctx.initBatch(tokens.length);
          const rows = ctx.addToBatch(
            seqId,
            position,
            tokens,
            last ? Uint32Array.of(tokens.length - 1) : noRows,
          );
          position += tokens.length;
          const decoded = ctx.decodeBatch();
          if (reportDone > 0) onPrefillBatch?.(reportDone, input.length, reportMs);
          await decoded;
          if (onPrefillBatch !== undefined) {
            reportDone = position;
            reportMs = performance.now() - start;
          }
          if (last) row = rows[0]!;
        }
        prefillMs = performance.now() - start;
        let token = await ctx.sampleToken(row, sampler);
        while (true) {
          const now = performance.now();
          if (token < 0) throw new Error("Cannot trace: llama.cpp failed to sample a token");
          times[n] = now - start;
          ids[n] = token;
          n++;
          onToken?.(n - 1, token, now - start);
          if (token < eog.length ? eog[token] === 1 : model.isEogToken(token)) {
            stopReason = "eos";
            break;
          }
          if (n === maxTokens) break;
          if (signal?.aborted === true || stopRequested?.() === true) {
            stopReason = "interrupted";
            break;
          }
          one[0] = token;
          ctx.initBatch(1);
          const rows = ctx.addToBatch(seqId, position, one, firstRow);
          position++;
          await ctx.decodeBatch();
          token = await ctx.sampleToken(rows[0]!, sampler);
        }
      } finally {
        pin?.restore();
        sampler.dispose();
        // The sequence's JS state never saw these tokens: erase them from the KV cache here.
        ctx.removeTokenCellsFromSequence(seqId, 0, position);
      }
      if (n === 0) throw new Error("Cannot trace: llama.cpp ended the run without a token");
      const perf = await readPerf(this.#llama, context);
      return this.#result({
        prompt,
        mode,
        promptTokens,
        depth,
        maxTokens,
        threads,
        batchSize: context.batchSize,
        contextSize: context.contextSize,
        cpuAffinity: pin?.cpus.join(",") ?? "",
        temperature,
        topK,
        topP,
        seed,
        promptId,
        promptClass,
        tags,
        stopReason,
        startedAt: start - this.#openedAt,
        prefillMs,
        times: times.slice(0, n),
        ids: ids.slice(0, n),
        perf,
      });
    } finally {
      this.#busy = false;
    }
  }

  #promptTokens(prompt: string, mode: "chat" | "raw"): Token[] {
    if (mode === "chat") this.#chatWrapper ??= resolveChatWrapper(this.#model);
    return promptTokens(this.#model, this.#chatWrapper, prompt, mode);
  }

  #fillerTokens(depth: number): Token[] {
    this.#filler ??= this.#model.tokenize(FILLER_TEXT, false);
    const filler = this.#filler;
    return Array.from({ length: depth }, (_, i) => filler[i % filler.length]!);
  }

  #result(run: {
    prompt: string;
    mode: "chat" | "raw";
    promptTokens: Token[];
    depth: number;
    maxTokens: number;
    threads: number;
    batchSize: number;
    contextSize: number;
    cpuAffinity: string;
    temperature: number;
    topK: number;
    topP: number;
    seed: number;
    promptId: string;
    promptClass: string;
    tags: readonly string[];
    stopReason: StopReason;
    startedAt: number;
    prefillMs: number;
    times: Float64Array;
    ids: Int32Array;
    perf: LlamaPerf;
  }): TraceResult {
    const { times, ids } = run;
    const n = times.length;
    const first = run.promptTokens.length + run.depth;
    const latency = new Float64Array(n);
    const index = new Int32Array(n);
    const position = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      latency[i] = i === 0 ? times[0]! : times[i]! - times[i - 1]!;
      index[i] = i;
      position[i] = first + i;
    }
    const model = this.#model;
    const { piece, pieceBytes } = tokenPieces(
      ids,
      run.promptTokens,
      (tokens, context) => model.detokenize(tokens as Token[], false, context as Token[]),
      (token) => this.#vocabBytes[token] ?? 0,
    );
    const ttft = times[0]!;
    const total = times[n - 1]!;
    const decode = total - ttft;
    return {
      summary: {
        prompt_id: run.promptId,
        prompt_class: run.promptClass,
        prompt_tags: run.tags.join(","),
        prompt_mode: run.mode,
        prompt_text: run.prompt,
        prompt_tokens: run.promptTokens.length,
        depth_tokens: run.depth,
        max_tokens: run.maxTokens,
        threads: run.threads,
        batch_size: run.batchSize,
        context_size: run.contextSize,
        cpu_affinity: run.cpuAffinity,
        temperature: run.temperature,
        top_k: run.topK,
        top_p: run.topP,
        sampling_seed: run.seed,
        stop_reason: run.stopReason,
        output_tokens: n,
        started_at_ms: run.startedAt,
        prefill_ms: run.prefillMs,
        ttft_ms: ttft,
        decode_ms: decode,
        total_ms: total,
        e2e_tokens_per_s: n / (total / 1000),
        decode_tokens_per_s: n > 1 ? (n - 1) / (decode / 1000) : Number.NaN,
        engine_prompt_ms: run.perf.promptEvalMs,
        engine_prompt_tokens: run.perf.promptEvalTokens,
        engine_decode_ms: run.perf.evalMs,
        engine_decode_tokens: run.perf.evalTokens,
      },
      tokens: {
        token_index: index,
        position,
        phase: Array.from({ length: n }, (_, i) => (i === 0 ? "prefill" : "decode")),
        token_id: ids,
        piece,
        piece_bytes: pieceBytes,
        t_ms: times,
        latency_ms: latency,
        chunk_tokens: new Int32Array(n).fill(1),
      },
    };
  }

  async close(): Promise<void> {
    await this.#context?.dispose();
    this.#context = undefined;
    this.#sequence = undefined;
    this.#native = undefined;
    await this.#model.dispose();
  }
}
