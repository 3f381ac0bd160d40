/**
 * The in-process session: {@linkcode openSession} validates and loads a GGUF model with
 * explicit settings and records the environment; the session traces runs one at a time
 * through the decode loop (`_decode.ts`) and turns its times and token ids into a run's
 * summary and token columns. {@linkcode countPromptTokens} counts prompt tokens from the
 * vocabulary alone.
 *
 * Folder `lib/tracer/`: in-process tracing through node-llama-cpp, and the trace-source contract
 * every source follows. May import: gguf, runtime, schema, stats.
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
import { readGguf } from "../gguf/reader.ts";
import { validateGguf } from "../gguf/validate.ts";
import { arrayMeta, modelColumns, stringMeta } from "./_model_info.ts";
import { tokenPieces, vocabByteLengths } from "./_pieces.ts";
import { type GpuChoice, llamaWarnings, readPerf, resetPerf } from "./_llama.ts";
import { loadedBackend, loadLlama } from "./backend.ts";
import { allowedCpus, foreignCpu } from "../runtime/affinity.ts";
import type {
  PromptText,
  SessionInfo,
  TokenColumns,
  TokenEvent,
  TraceOptions,
  TraceResult,
  TraceSource,
  TraceStream,
} from "./source.ts";
import { type NativeInternals, nativeInternals } from "./_native.ts";
import { decodeRun, settlePoolFor } from "./_decode.ts";
import {
  checkMode,
  eventStream,
  positiveInt,
  type RunSettings,
  runSettings,
  runSummary,
} from "./_run.ts";

export type { GpuChoice };

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
const DEFAULT_BATCH = 512;

// Deterministic filler for `depth`: tokenized once per session, repeated to the length asked.
const FILLER_TEXT = "The quick brown fox jumps over the lazy dog while the river runs past " +
  "the old mill, and the miller counts sacks of grain in the evening light. ";

function checkGpu(what: string, gpu: string): void {
  if (!["auto", "metal", "cuda", "vulkan", "cpu"].includes(gpu)) {
    throw new TypeError(
      `Cannot ${what}: gpu must be auto, metal, cuda, vulkan or cpu, found ${JSON.stringify(gpu)}`,
    );
  }
}

/** Throws a `RangeError` unless `cpuAffinity` is "auto", "off" or CPUs this process may run on. */
function checkAffinity(cpuAffinity: "auto" | "off" | readonly number[]): void {
  if (cpuAffinity === "auto" || cpuAffinity === "off") return;
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
      `Cannot trace pinned to CPU ${bad}: this process may run on CPUs ${allowed.join(",")} only`,
    );
  }
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
      ...modelColumns(gguf, sha256),
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
    let stopRequested = false;
    return eventStream((deliver) => {
      // Events wait in `pending` until a macrotask delivers them: by then the next decode
      // step has been dispatched, so the consumer runs while llama.cpp computes.
      let pending: TokenEvent[] = [];
      let scheduled = false;
      const flush = (): void => {
        scheduled = false;
        for (const event of pending) deliver(event);
        pending = [];
      };
      return this.#run(prompt, options, (index, tokenId, tMs) => {
        pending.push({ index, tokenId, tMs });
        if (!scheduled) {
          scheduled = true;
          setTimeout(flush, 0);
        }
      }, () => stopRequested).finally(flush);
    }, () => stopRequested = true);
  }

  async #run(
    prompt: string,
    options: TraceOptions,
    onToken: ((index: number, tokenId: number, tMs: number) => void) | undefined,
    stopRequested: (() => boolean) | undefined,
  ): Promise<TraceResult> {
    const settings = runSettings(options);
    const {
      threads = this.info.threads,
      batchSize = this.info.batch_size,
      contextSize = this.info.context_size,
      signal,
      settleThreadPool = true,
      onThreadPoolWait,
      onPrefillBatch,
      cpuAffinity = "auto",
    } = options;
    const { mode, maxTokens, depth, promptId } = settings;
    positiveInt("trace with this thread count", threads);
    positiveInt("trace with this batch size", batchSize);
    positiveInt("trace with this context size", contextSize);
    checkAffinity(cpuAffinity);
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
      await this.#sequence!.clearHistory();
      const input = Uint32Array.from(
        depth === 0 ? promptTokens : [...this.#fillerTokens(depth), ...promptTokens],
      );
      if (settleThreadPool) await settlePoolFor(threads, onThreadPoolWait);
      await resetPerf(this.#llama, context);
      const { temperature, topK, topP, seed } = settings;
      const decoded = await decodeRun({
        native: this.#native!,
        model: this.#model,
        input,
        batchSize: context.batchSize,
        maxTokens,
        eog: this.#eog,
        sampling: { temperature, topK, topP, seed },
        threads,
        cpuAffinity,
        signal,
        stopRequested,
        onToken,
        onPrefillBatch,
      });
      const perf = await readPerf(this.#llama, context);
      const { times, ids } = decoded;
      return {
        summary: runSummary(settings, {
          prompt_text: prompt,
          prompt_tokens: promptTokens.length,
          depth_tokens: depth,
          threads,
          batch_size: context.batchSize,
          context_size: context.contextSize,
          cpu_affinity: decoded.cpus,
          stop_reason: decoded.stopReason,
          started_at_ms: decoded.start - this.#openedAt,
          prefill_ms: decoded.prefillMs,
          engine_prompt_ms: perf.promptEvalMs,
          engine_prompt_tokens: perf.promptEvalTokens,
          engine_decode_ms: perf.evalMs,
          engine_decode_tokens: perf.evalTokens,
        }, times),
        tokens: this.#tokens(settings, promptTokens, times, ids),
      };
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

  /** A run's token columns from its times and ids; text work happens here, after the run. */
  #tokens(
    settings: RunSettings,
    promptTokens: readonly Token[],
    times: Float64Array,
    ids: Int32Array,
  ): TokenColumns {
    const n = times.length;
    const first = promptTokens.length + settings.depth;
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
      promptTokens,
      (tokens, context) => model.detokenize(tokens as Token[], false, context as Token[]),
      (token) => this.#vocabBytes[token] ?? 0,
    );
    return {
      token_index: index,
      position,
      phase: Array.from({ length: n }, (_, i) => (i === 0 ? "prefill" : "decode")),
      token_id: ids,
      piece,
      piece_bytes: pieceBytes,
      t_ms: times,
      latency_ms: latency,
      chunk_tokens: new Int32Array(n).fill(1),
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
