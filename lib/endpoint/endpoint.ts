/**
 * Tracing through a server's streaming HTTP API (an OpenAI-compatible server such as
 * llama-server, or Ollama): {@linkcode openEndpointSession} probes the server and opens a
 * session with the same `trace()`/`stream()` shape as an in-process one. The session turns a
 * run's timed chunks (`_read.ts`, `_protocol.ts`) into the run's token columns and summary,
 * with the server's own counters kept.
 *
 * Folder `lib/endpoint/`: tracing through a server's streaming HTTP API. May import: tracer,
 * gguf, schema, stats.
 *
 * @module
 */

import { hostInfo, sha256File } from "../schema/_env.ts";
import { readGguf } from "../gguf/reader.ts";
import { arrayMeta, type ModelColumns, modelColumns, stringMeta } from "../tracer/_model_info.ts";
import { invalidUtf8Tokens } from "./_utf8.ts";
import type {
  SessionInfo,
  StopReason,
  TokenColumns,
  TokenEvent,
  TraceOptions,
  TraceResult,
  TraceSource,
  TraceStream,
} from "../tracer/source.ts";
import { eventStream, type RunSettings, runSettings, runSummary } from "../tracer/_run.ts";
import {
  type EndpointApi,
  EndpointError,
  type Http,
  parseBase,
  requestJson,
  type ServerFacts,
  serverFacts,
} from "./server.ts";
import { type Chunk, type Final, parseEvents, requestFor, STOP } from "./_protocol.ts";
import { readAnswer, splitEvents } from "./_read.ts";

/** Options of {@linkcode openEndpointSession}. */
export interface EndpointOptions {
  /**
   * The API: `openai` (`/v1/completions`, `/v1/chat/completions`), `ollama` (`/api/generate`,
   * `/api/chat`), or `auto` to detect it (`/api/version` answers: Ollama; else `/v1/models`
   * answers: OpenAI-compatible).
   * @default {"auto"}
   */
  api?: EndpointApi | "auto";
  /**
   * The model to ask for, for servers that host several.
   * @default {the server's only model; an error when it lists several}
   */
  modelName?: string;
  /**
   * API key, sent as `Authorization: Bearer <key>`; never recorded.
   * @default {undefined}
   */
  apiKey?: string;
  /**
   * Longest wait for the next bytes of a streaming answer (and for any other request), ms:
   * past it the run ends with stop reason `error`.
   * @default {60000}
   */
  tokenTimeoutMs?: number;
}

/** An endpoint session: a trace source whose runs go through a server's HTTP API. */
export interface EndpointSession extends TraceSource {
  /** The API in use. */
  readonly api: EndpointApi;
  /** The model asked for. */
  readonly modelName: string;
  /** Why the last run ended with stop reason `error` (one line), or undefined. */
  readonly lastError: string | undefined;
}

const DEFAULT_TIMEOUT_MS = 60_000;

class HttpSession implements EndpointSession {
  readonly info: SessionInfo;
  readonly warnings: readonly string[] = [];
  readonly api: EndpointApi;
  readonly modelName: string;
  #lastError: string | undefined;
  readonly #http: Http;
  readonly #facts: ServerFacts;
  readonly #openedAt = performance.now();
  #busy = false;
  readonly #banned: readonly number[];

  constructor(
    http: Http,
    facts: ServerFacts,
    modelName: string,
    info: SessionInfo,
    banned: readonly number[],
  ) {
    this.#banned = banned;
    this.#http = http;
    this.#facts = facts;
    this.api = facts.api;
    this.modelName = modelName;
    this.info = info;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  trace(prompt: string, options: TraceOptions = {}): Promise<TraceResult> {
    return this.#run(prompt, options, undefined);
  }

  stream(prompt: string, options: TraceOptions = {}): TraceStream {
    const stop = new AbortController();
    const signal = options.signal === undefined
      ? stop.signal
      : AbortSignal.any([stop.signal, options.signal]);
    return eventStream(
      (deliver) => this.#run(prompt, { ...options, signal }, deliver),
      () => stop.abort(),
    );
  }

  async #run(
    prompt: string,
    options: TraceOptions,
    onEvent: ((event: TokenEvent) => void) | undefined,
  ): Promise<TraceResult> {
    const settings = runSettings(options);
    const { depth } = settings;
    if (depth !== 0) {
      throw new RangeError(
        `Cannot trace through an endpoint with depth ${depth}: filler tokens need the model's tokenizer in-process; use depth 0`,
      );
    }
    if (this.#busy) throw new Error("Cannot trace: another run of this session is in progress");
    this.#busy = true;
    try {
      const { path, body } = requestFor(this.api, {
        model: this.modelName,
        prompt,
        mode: settings.mode,
        sampling: settings,
        banned: this.#banned,
      });
      const answer = await readAnswer(this.#http, {
        path,
        body,
        api: this.api,
        maxTokens: settings.maxTokens,
        signal: options.signal,
        onEvent,
      });
      const { url, stopped } = answer;
      const events = splitEvents(answer.reads, answer.times, this.api === "openai");
      const { chunks, final } = parseEvents(events, this.api);
      let failure = answer.failure;
      if (failure === undefined && !stopped && final.finishReason === undefined) {
        failure = final.error ?? `the answer from ${url} ended without its final chunk`;
      }
      this.#lastError = failure;
      const stopReason: StopReason = failure !== undefined
        ? "error"
        : stopped
        ? "interrupted"
        : STOP[final.finishReason ?? ""] ?? "eos";
      const counts = await this.#counts(chunks, final);
      return this.#result(settings, {
        prompt,
        stopReason,
        startedAt: answer.start - this.#openedAt,
        chunks,
        counts,
        final,
      });
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Tokens per chunk: the server's own per-chunk count (llama-server's `predicted_n`); else 1
   * each when the chunks are as many as the server's final token count; else the server's
   * `/tokenize` of each chunk's text when it has one and the counts add up; else 0 for every
   * chunk (one row each, flagged as not counted).
   */
  async #counts(chunks: readonly Chunk[], final: Final): Promise<number[]> {
    if (chunks.length > 0 && chunks.every((c) => c.count !== undefined)) {
      return chunks.map((c) => c.count!);
    }
    const total = final.completionTokens;
    if (total === chunks.length) return chunks.map(() => 1);
    if (this.#facts.canTokenize && total !== undefined && chunks.length > 0) {
      try {
        const counts: number[] = [];
        for (const chunk of chunks) {
          const answer = await requestJson(this.#http, "/tokenize", {
            content: chunk.text,
            add_special: false,
          });
          const tokens = (answer.json as { tokens?: unknown[] })?.tokens;
          if (answer.status !== 200 || !Array.isArray(tokens)) throw new Error("no tokens");
          counts.push(Math.max(1, tokens.length));
        }
        if (counts.reduce((a, b) => a + b, 0) === total) return counts;
      } catch {
        // Fall through: rows stay uncounted.
      }
    }
    return chunks.map(() => 0);
  }

  #result(settings: RunSettings, run: {
    prompt: string;
    stopReason: StopReason;
    startedAt: number;
    chunks: readonly Chunk[];
    counts: readonly number[];
    final: Final;
  }): TraceResult {
    const { chunks, counts, final } = run;
    const n = counts.reduce((a, c) => a + Math.max(1, c), 0);
    const promptTokens = final.promptTokens ?? final.promptN ?? null;
    const tokens: TokenColumns = {
      token_index: new Int32Array(n),
      position: new Int32Array(n),
      phase: new Array<string>(n),
      token_id: new Int32Array(n).fill(-1),
      piece: new Array<string>(n),
      piece_bytes: new Int32Array(n),
      t_ms: new Float64Array(n),
      latency_ms: new Float64Array(n),
      chunk_tokens: new Int32Array(n),
    };
    const encoder = new TextEncoder();
    let row = 0;
    let previous = 0;
    for (const [i, chunk] of chunks.entries()) {
      const k = Math.max(1, counts[i]!);
      for (let j = 0; j < k; j++, row++) {
        tokens.token_index[row] = row;
        tokens.position[row] = (promptTokens ?? 0) + row;
        tokens.phase[row] = row === 0 ? "prefill" : "decode";
        tokens.piece[row] = j === 0 ? chunk.text : "";
        tokens.piece_bytes[row] = j === 0 ? encoder.encode(chunk.text).length : 0;
        tokens.t_ms[row] = chunk.t;
        tokens.latency_ms[row] = j === 0 ? chunk.t - previous : 0;
        tokens.chunk_tokens[row] = counts[i]!;
      }
      previous = chunk.t;
    }
    const summary = runSummary(settings, {
      prompt_text: run.prompt,
      prompt_tokens: promptTokens ?? 0,
      depth_tokens: 0,
      threads: null,
      batch_size: null,
      context_size: this.info.context_size,
      cpu_affinity: "",
      stop_reason: run.stopReason,
      started_at_ms: run.startedAt,
      prefill_ms: null,
      engine_prompt_ms: final.promptMs,
      engine_prompt_tokens: final.promptN,
      engine_decode_ms: final.decodeMs,
      engine_decode_tokens: final.decodeN,
    }, tokens.t_ms);
    return { summary, tokens };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What a model file tells when the server runs on this machine and names a readable file. */
interface LocalModel extends ModelColumns {
  /** Synthetic byte-level BPE models: token ids that are not valid UTF-8 alone (see below). */
  invalidUtf8: number[];
}

async function localModel(base: string, path: string): Promise<LocalModel | undefined> {
  const host = new URL(base).hostname;
  if (path === "" || !["127.0.0.1", "localhost", "[::1]"].includes(host)) return undefined;
  try {
    const gguf = await readGguf(path);
    const byteLevel = stringMeta(gguf, "tokenizer.ggml.model") === "gpt2";
    return {
      ...modelColumns(gguf, await sha256File(path)),
      invalidUtf8: gguf.synthetic && byteLevel
        ? invalidUtf8Tokens(
          arrayMeta(gguf, "tokenizer.ggml.tokens").map(String),
          arrayMeta(gguf, "tokenizer.ggml.token_type").map(Number),
        )
        : [],
    };
  } catch {
    return undefined;
  }
}

/**
 * Opens a session on a server's streaming HTTP API: finds the API (or checks the one given),
 * the model, and the engine's name and version (`/props` or `/v1/models` for an
 * OpenAI-compatible server such as llama-server, `/api/version` for Ollama). Its runs are timed
 * on this process's monotonic clock as each chunk's bytes are read from the socket; see the
 * README's "What is measured" for what each interval covers. Values the server does not expose
 * (threads, the model file's size and SHA-256) stay empty (`null` or `""`); when the server runs
 * on this machine (loopback) and names its model file (llama-server's `/props`), the file's
 * GGUF facts and SHA-256 are read from it. `model_synthetic` is false unless the file says so.
 *
 * A run that the server fails mid-way (connection lost, an error chunk, no bytes for
 * `tokenTimeoutMs`) ends with stop reason `error` and the tokens read so far; an HTTP error or
 * an answer that does not stream throws an {@linkcode EndpointError}.
 *
 * @param url The server's base URL, e.g. `http://127.0.0.1:8080` (credentials in it are sent
 * as HTTP basic auth and never recorded).
 * @param options API, model name, API key, per-token timeout.
 * @returns The open session.
 * @throws {EndpointError} When the server cannot be reached, is not a server of the API, or
 * does not have the model asked for.
 *
 * @example Trace one run through llama-server
 * ```ts ignore
 * // Needs a running server: `llama-server -m model.gguf --host 127.0.0.1 --port 8080`.
 * import { openEndpointSession } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const session = await openEndpointSession("http://127.0.0.1:8080");
 * const run = await session.trace("Count 1 to 10", { mode: "raw", maxTokens: 30 });
 * assert.equal(run.summary.output_tokens, 30);
 * assert.equal(session.info.source, "endpoint");
 * await session.close();
 * ```
 */
export async function openEndpointSession(
  url: string,
  options: EndpointOptions = {},
): Promise<EndpointSession> {
  const { api = "auto", modelName, apiKey, tokenTimeoutMs = DEFAULT_TIMEOUT_MS } = options;
  if (api !== "auto" && api !== "openai" && api !== "ollama") {
    throw new TypeError(
      `Cannot open an endpoint session: api must be "auto", "openai" or "ollama", found ${
        JSON.stringify(api)
      }`,
    );
  }
  if (!(tokenTimeoutMs > 0)) {
    throw new RangeError(
      `Cannot open an endpoint session: tokenTimeoutMs must be > 0, found ${tokenTimeoutMs}`,
    );
  }
  const { base, basic } = parseBase(url);
  const headers: Record<string, string> = {};
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  else if (basic !== undefined) headers.authorization = basic;
  const http: Http = { base, headers, timeoutMs: tokenTimeoutMs };
  const facts = await serverFacts(http, api);
  const known = (name: string): string | undefined =>
    facts.models.find((m) => m === name || m === `${name}:latest`);
  let model: string;
  if (modelName !== undefined) {
    const found = known(modelName);
    if (found === undefined) {
      throw new EndpointError(
        `Cannot trace model ${JSON.stringify(modelName)} through ${base}: the server has ${
          facts.models.length === 0
            ? "no models"
            : facts.models.map((m) => JSON.stringify(m)).join(", ")
        }; pass one of them with --model-name`,
        base,
      );
    }
    model = found;
  } else if (facts.models.length === 1) {
    model = facts.models[0]!;
  } else {
    throw new EndpointError(
      facts.models.length === 0
        ? `Cannot trace through ${base}: the server lists no models`
        : `Cannot trace through ${base}: the server has ${facts.models.length} models (${
          facts.models.slice(0, 5).map((m) => JSON.stringify(m)).join(", ")
        }); choose one with --model-name`,
      base,
    );
  }
  const host = hostInfo();
  const file = await localModel(base, facts.modelPath);
  const info: SessionInfo = {
    ...host,
    cpu_math_cores: null,
    gpu_requested: "",
    backend: "",
    gpu_name: "",
    gpu_vram_bytes: null,
    threads: null,
    batch_size: null,
    context_size: facts.contextSize,
    flash_attention: null,
    node_llama_cpp_version: "",
    llama_cpp_release: "",
    source: "endpoint",
    endpoint_url: base,
    engine_name: facts.engineName,
    engine_version: facts.engineVersion,
    model_path: facts.modelPath || model,
    model_name: model,
    model_architecture: file?.model_architecture ?? facts.architecture,
    model_parameters: file?.model_parameters ?? facts.parameters,
    model_file_bytes: file?.model_file_bytes ?? null,
    model_tensor_bytes: file?.model_tensor_bytes ?? facts.tensorBytes,
    model_quantization: file?.model_quantization ?? facts.quantization,
    model_dominant_type: file?.model_dominant_type ?? "",
    model_type_shares: file?.model_type_shares ?? "",
    model_sha256: file?.model_sha256 ?? "",
    model_synthetic: file?.model_synthetic ?? false,
    model_preset: file?.model_preset ?? "",
  };
  return new HttpSession(http, facts, model, info, file?.invalidUtf8 ?? []);
}
