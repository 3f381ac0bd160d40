/**
 * Tracing through a server's streaming HTTP API (an OpenAI-compatible server such as
 * llama-server, or Ollama): the same `trace()`/`stream()` shape as an in-process session, with
 * each chunk timed as its bytes are read from the socket and the server's own counters kept.
 *
 * @module
 */

import { hostInfo, sha256File } from "../schema/_env.ts";
import { formatTypeShares, readGguf } from "../gguf/reader.ts";
import { invalidUtf8Tokens } from "./_utf8.ts";
import type {
  RunSummary,
  SessionInfo,
  StopReason,
  TokenColumns,
  TokenEvent,
  TraceOptions,
  TraceResult,
  TraceSource,
  TraceStream,
} from "../tracer/tracer.ts";

/** The HTTP API a server speaks. */
export type EndpointApi = "openai" | "ollama";

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

/**
 * A server that cannot be traced: not reachable, not a server of the API, an HTTP error, an
 * unknown model or an answer that does not stream. The message is one line.
 */
export class EndpointError extends Error {
  /** The URL at fault, without credentials. */
  readonly url: string;

  /**
   * Makes an error about an endpoint.
   *
   * @param message What is wrong, in one line.
   * @param url The URL at fault, without credentials.
   */
  constructor(message: string, url: string) {
    super(message);
    this.name = "EndpointError";
    this.url = url;
  }
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

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

function errorText(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  return oneLine(String(e?.cause?.message ?? e?.message ?? error));
}

function isRefused(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${
    (error as { cause?: Error })?.cause?.message ?? ""
  }`;
  return /ECONNREFUSED|Connection refused|os error 111/i.test(text);
}

/** Base URL without credentials, query or trailing `/v1`, and the credentials as a header. */
function parseBase(url: string): { base: string; basic: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EndpointError(
      `Cannot trace through ${JSON.stringify(url)}: not a URL; expected e.g. http://127.0.0.1:8080`,
      url,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new EndpointError(
      `Cannot trace through ${JSON.stringify(url)}: expected an http:// or https:// URL`,
      url,
    );
  }
  const basic = parsed.username !== "" || parsed.password !== ""
    ? `Basic ${
      btoa(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`)
    }`
    : undefined;
  parsed.username = "";
  parsed.password = "";
  parsed.search = "";
  parsed.hash = "";
  const base = parsed.toString().replace(/\/+$/, "").replace(/\/v1$/, "");
  return { base, basic };
}

interface Http {
  base: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** GET/POST JSON with a timeout; undefined for a 404 or a body that is not JSON. */
async function requestJson(
  http: Http,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const url = `${http.base}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers: {
        ...http.headers,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(http.timeoutMs),
    });
  } catch (error) {
    if (isRefused(error)) {
      throw new EndpointError(
        `Cannot connect to ${http.base}: connection refused; is the server running on that port?`,
        http.base,
      );
    }
    throw new EndpointError(`Cannot reach ${http.base}: ${errorText(error)}`, http.base);
  }
  const text = await response.text().catch(() => "");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

/** The server's own message in an error body (`{error: {message}}`, `{error: "..."}`), or its text. */
function serverMessage(json: unknown, text: string): string {
  const e = (json as { error?: unknown; message?: unknown })?.error ??
    (json as { message?: unknown })?.message;
  const message = typeof e === "string"
    ? e
    : typeof (e as { message?: unknown })?.message === "string"
    ? (e as { message: string }).message
    : text;
  return oneLine(message).slice(0, 300) || "no message";
}

interface ServerFacts {
  api: EndpointApi;
  models: string[];
  engineName: string;
  engineVersion: string;
  modelPath: string;
  contextSize: number | null;
  parameters: number | null;
  tensorBytes: number | null;
  architecture: string;
  quantization: string;
  canTokenize: boolean;
}

async function ollamaFacts(http: Http, version: unknown): Promise<ServerFacts> {
  const tags = await requestJson(http, "/api/tags");
  const list = (tags.json as { models?: { name?: string; details?: Record<string, unknown> }[] })
    ?.models;
  if (tags.status !== 200 || !Array.isArray(list)) {
    throw new EndpointError(
      `Cannot trace through ${http.base}: GET /api/tags did not list models (HTTP ${tags.status}); is this an Ollama server?`,
      http.base,
    );
  }
  return {
    api: "ollama",
    models: list.map((m) => String(m.name)),
    engineName: "ollama",
    engineVersion: String(version),
    modelPath: "",
    contextSize: null,
    parameters: null,
    tensorBytes: null,
    architecture: "",
    quantization: "",
    canTokenize: false,
  };
}

async function openaiFacts(http: Http): Promise<ServerFacts | undefined> {
  const models = await requestJson(http, "/v1/models");
  const data = (models.json as {
    data?: { id?: string; owned_by?: string; meta?: Record<string, unknown> }[];
  })?.data;
  if (models.status === 401 || models.status === 403) {
    throw new EndpointError(
      `Cannot trace through ${http.base}: GET /v1/models answered HTTP ${models.status} (${
        serverMessage(models.json, "")
      }); give the API key with --api-key-env`,
      http.base,
    );
  }
  if (models.status !== 200 || !Array.isArray(data)) return undefined;
  // llama-server's /props: build, model path, context size; /tokenize counts tokens.
  const props = await requestJson(http, "/props").catch(() => ({ status: 0, json: undefined }));
  const p = props.status === 200
    ? props.json as {
      build_info?: string;
      model_path?: string;
      default_generation_settings?: { n_ctx?: number };
    }
    : undefined;
  const meta = data[0]?.meta;
  const num = (v: unknown): number | null => typeof v === "number" && Number.isFinite(v) ? v : null;
  return {
    api: "openai",
    models: data.map((m) => String(m.id)),
    engineName: p?.build_info !== undefined
      ? "llama-server"
      : String(data[0]?.owned_by ?? "") || "openai-compatible",
    engineVersion: p?.build_info ?? "",
    modelPath: p?.model_path ?? "",
    contextSize: num(p?.default_generation_settings?.n_ctx),
    parameters: num(meta?.n_params),
    tensorBytes: num(meta?.size),
    architecture: "",
    quantization: "",
    canTokenize: p?.build_info !== undefined,
  };
}

async function serverFacts(http: Http, api: EndpointApi | "auto"): Promise<ServerFacts> {
  if (api !== "openai") {
    const version = await requestJson(http, "/api/version");
    const v = (version.json as { version?: unknown })?.version;
    if (version.status === 200 && typeof v === "string") return await ollamaFacts(http, v);
    if (api === "ollama") {
      throw new EndpointError(
        `Cannot trace through ${http.base}: it is not an Ollama server (GET /api/version answered HTTP ${version.status} without a version); check the URL or use --api openai`,
        http.base,
      );
    }
  }
  const facts = await openaiFacts(http);
  if (facts !== undefined) return facts;
  throw new EndpointError(
    api === "openai"
      ? `Cannot trace through ${http.base}: it is not an OpenAI-compatible server (GET /v1/models did not list models); check the URL or use --api ollama`
      : `Cannot trace through ${http.base}: it answers neither GET /api/version (Ollama) nor GET /v1/models (OpenAI-compatible); check the URL (the server's base, e.g. http://127.0.0.1:8080)`,
    http.base,
  );
}

/** One parsed chunk of a streaming answer. */
interface Chunk {
  /** Arrival time of the read that completed it, ms since the run's start. */
  t: number;
  text: string;
  /** Tokens the chunk carries when the server says (llama-server's per-chunk `predicted_n`). */
  count: number | undefined;
}

/** What the end of a streaming answer says. */
interface Final {
  finishReason: string | undefined;
  completionTokens: number | undefined;
  promptTokens: number | undefined;
  promptMs: number | null;
  promptN: number | null;
  decodeMs: number | null;
  decodeN: number | null;
  error: string | undefined;
}

/** Splits a streaming body into events (SSE `data:` lines or NDJSON lines), with their read's time. */
function splitEvents(
  reads: readonly Uint8Array[],
  times: Float64Array,
  sse: boolean,
): { t: number; data: string }[] {
  const decoder = new TextDecoder();
  const events: { t: number; data: string }[] = [];
  let pending = "";
  for (let i = 0; i < reads.length; i++) {
    pending += decoder.decode(reads[i], { stream: true });
    let at: number;
    while ((at = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, at).replace(/\r$/, "");
      pending = pending.slice(at + 1);
      if (sse) {
        if (line.startsWith("data:")) events.push({ t: times[i]!, data: line.slice(5).trim() });
      } else if (line.trim() !== "") {
        events.push({ t: times[i]!, data: line });
      }
    }
  }
  const rest = (pending + decoder.decode()).trim();
  if (rest !== "" && reads.length > 0) {
    const t = times[reads.length - 1]!;
    if (!sse) events.push({ t, data: rest });
    else if (rest.startsWith("data:")) events.push({ t, data: rest.slice(5).trim() });
  }
  return events;
}

function parseEvents(
  events: readonly { t: number; data: string }[],
  api: EndpointApi,
): { chunks: Chunk[]; final: Final } {
  const chunks: Chunk[] = [];
  const final: Final = {
    finishReason: undefined,
    completionTokens: undefined,
    promptTokens: undefined,
    promptMs: null,
    promptN: null,
    decodeMs: null,
    decodeN: null,
    error: undefined,
  };
  let predicted = 0;
  for (const event of events) {
    if (event.data === "[DONE]") continue;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(event.data);
    } catch {
      final.error ??= `the server sent a chunk that is not JSON: ${event.data.slice(0, 80)}`;
      continue;
    }
    if (json.error !== undefined) {
      final.error = `the server reported an error mid-run: ${serverMessage(json, "")}`;
      continue;
    }
    if (api === "ollama") {
      const text = String(
        (json.message as { content?: unknown } | undefined)?.content ?? json.response ?? "",
      );
      if (json.done === true) {
        final.finishReason = String(json.done_reason ?? "");
        const n = (v: unknown) => (typeof v === "number" ? v : null);
        final.promptN = n(json.prompt_eval_count);
        final.promptMs = n(json.prompt_eval_duration) === null
          ? null
          : (json.prompt_eval_duration as number) / 1e6;
        final.decodeN = n(json.eval_count);
        final.decodeMs = n(json.eval_duration) === null
          ? null
          : (json.eval_duration as number) / 1e6;
        final.completionTokens = final.decodeN ?? undefined;
        final.promptTokens = final.promptN ?? undefined;
      }
      if (text !== "") chunks.push({ t: event.t, text, count: undefined });
      continue;
    }
    const choice = (json.choices as Record<string, unknown>[] | undefined)?.[0];
    const text = String(
      (choice?.delta as { content?: unknown } | undefined)?.content ?? choice?.text ?? "",
    );
    const timings = json.timings as Record<string, number> | undefined;
    let count: number | undefined;
    if (typeof timings?.predicted_n === "number") {
      count = timings.predicted_n - predicted;
      predicted = timings.predicted_n;
      final.promptMs = timings.prompt_ms ?? null;
      final.promptN = timings.prompt_n ?? null;
      final.decodeMs = timings.predicted_ms ?? null;
      final.decodeN = timings.predicted_n;
    }
    if (typeof choice?.finish_reason === "string") final.finishReason = choice.finish_reason;
    const usage = json.usage as { completion_tokens?: number; prompt_tokens?: number } | undefined;
    if (usage !== undefined && usage !== null) {
      final.completionTokens = usage.completion_tokens;
      final.promptTokens = usage.prompt_tokens;
    }
    if (text !== "" || (count ?? 0) > 0) chunks.push({ t: event.t, text, count });
  }
  return { chunks, final };
}

const STOP: Readonly<Record<string, StopReason>> = {
  length: "max_tokens",
  stop: "eos",
};

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
    const ready: TokenEvent[] = [];
    let ended = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    const signal = options.signal === undefined
      ? stop.signal
      : AbortSignal.any([stop.signal, options.signal]);
    const result = this.#run(prompt, { ...options, signal }, (event) => {
      ready.push(event);
      wake?.();
      wake = undefined;
    });
    const end = (error?: unknown): void => {
      failure = error;
      ended = true;
      wake?.();
      wake = undefined;
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
        stop.abort();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    return { result, [Symbol.asyncIterator]: () => iterator };
  }

  #request(prompt: string, mode: "chat" | "raw", o: Required<SamplingOptions>): {
    path: string;
    body: unknown;
  } {
    const model = this.modelName;
    if (this.api === "ollama") {
      const options = {
        temperature: o.temperature,
        top_k: o.topK,
        top_p: o.topP,
        seed: o.seed,
        num_predict: o.maxTokens,
      };
      return mode === "chat"
        ? {
          path: "/api/chat",
          body: { model, messages: [{ role: "user", content: prompt }], stream: true, options },
        }
        : { path: "/api/generate", body: { model, prompt, raw: true, stream: true, options } };
    }
    const common = {
      model,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: o.maxTokens,
      temperature: o.temperature,
      top_k: o.topK,
      top_p: o.topP,
      seed: o.seed,
      // llama-server: keep generating past end-of-generation, and count tokens per chunk.
      ignore_eos: true,
      timings_per_token: true,
      // A synthetic model's random text can hold bytes that are not UTF-8, which llama-server
      // (at node-llama-cpp's bundled commit) ends the stream for; such tokens are banned.
      ...(this.#banned.length === 0 ? {} : { logit_bias: this.#banned.map((id) => [id, false]) }),
    };
    return mode === "chat"
      ? {
        path: "/v1/chat/completions",
        body: { ...common, messages: [{ role: "user", content: prompt }] },
      }
      : { path: "/v1/completions", body: { ...common, prompt } };
  }

  async #run(
    prompt: string,
    options: TraceOptions,
    onEvent: ((event: TokenEvent) => void) | undefined,
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
      signal,
    } = options;
    if (mode !== "chat" && mode !== "raw") {
      throw new TypeError(
        `Cannot trace: mode must be "chat" or "raw", found ${JSON.stringify(mode)}`,
      );
    }
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      throw new RangeError(
        `Cannot trace: max tokens must be a positive integer, found ${maxTokens}`,
      );
    }
    if (depth !== 0) {
      throw new RangeError(
        `Cannot trace through an endpoint with depth ${depth}: filler tokens need the model's tokenizer in-process; use depth 0`,
      );
    }
    if (this.#busy) throw new Error("Cannot trace: another run of this session is in progress");
    this.#busy = true;
    try {
      const { path, body } = this.#request(prompt, mode, {
        maxTokens,
        temperature,
        topK,
        topP,
        seed,
      });
      const url = `${this.#http.base}${path}`;
      const abort = new AbortController();
      const onAbort = (): void => abort.abort();
      signal?.addEventListener("abort", onAbort);
      // Hot path: one clock read and one array store per read of the body; parsing after.
      const reads: Uint8Array[] = [];
      let times = new Float64Array(Math.max(16, maxTokens + 8));
      let lastRead = 0;
      let timedOut = false;
      let failure: string | undefined;
      const timeoutMs = this.#http.timeoutMs;
      const watchdog = setInterval(() => {
        if (performance.now() - lastRead > timeoutMs) {
          timedOut = true;
          abort.abort();
        }
      }, Math.min(1000, Math.max(10, timeoutMs / 5)));
      const start = performance.now();
      lastRead = start;
      try {
        let response: Response;
        try {
          response = await fetch(url, {
            method: "POST",
            headers: { ...this.#http.headers, "content-type": "application/json" },
            body: JSON.stringify(body),
            signal: abort.signal,
          });
        } catch (error) {
          if (signal?.aborted) throw new Error("Cannot trace: stopped before the server answered");
          failure = timedOut
            ? `no answer from ${url} within ${timeoutMs} ms`
            : isRefused(error)
            ? `connection refused by ${this.#http.base}`
            : `cannot reach ${url}: ${errorText(error)}`;
          response = undefined as unknown as Response;
        }
        if (failure === undefined) {
          if (response.status >= 400) {
            const text = await response.text().catch(() => "");
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch { /* not JSON */ }
            throw new EndpointError(
              `Cannot trace through ${url}: the server answered HTTP ${response.status}: ${
                serverMessage(json, text)
              }`,
              url,
            );
          }
          const type = response.headers.get("content-type") ?? "";
          const streaming = this.api === "ollama"
            ? /ndjson/.test(type)
            : /text\/event-stream/.test(type);
          if (!streaming) {
            await response.body?.cancel().catch(() => {});
            throw new EndpointError(
              `Cannot trace through ${url}: the server answered without streaming (content-type ${
                JSON.stringify(type)
              }, expected ${
                this.api === "ollama" ? "application/x-ndjson" : "text/event-stream"
              }); tokentrace needs a streaming answer to time tokens`,
              url,
            );
          }
          const reader = response.body!.getReader();
          try {
            while (true) {
              const { value, done } = await reader.read();
              const now = performance.now();
              if (done) break;
              lastRead = now;
              if (reads.length === times.length) {
                const grown = new Float64Array(times.length * 2);
                grown.set(times);
                times = grown;
              }
              times[reads.length] = now - start;
              reads.push(value);
              onEvent?.({ index: reads.length - 1, tokenId: -1, tMs: now - start });
            }
          } catch (error) {
            failure = timedOut
              ? `no bytes from ${url} for ${timeoutMs} ms (per-token timeout)`
              : signal?.aborted
              ? undefined
              : `the connection to ${url} failed mid-run: ${errorText(error)}`;
          }
        }
      } finally {
        clearInterval(watchdog);
        signal?.removeEventListener("abort", onAbort);
      }
      const stopped = signal?.aborted === true && failure === undefined;
      const events = splitEvents(reads, times.subarray(0, reads.length), this.api === "openai");
      const { chunks, final } = parseEvents(events, this.api);
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
      return this.#result({
        prompt,
        mode,
        maxTokens,
        temperature,
        topK,
        topP,
        seed,
        promptId,
        promptClass,
        tags,
        stopReason,
        startedAt: start - this.#openedAt,
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

  #result(run: {
    prompt: string;
    mode: "chat" | "raw";
    maxTokens: number;
    temperature: number;
    topK: number;
    topP: number;
    seed: number;
    promptId: string;
    promptClass: string;
    tags: readonly string[];
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
    const ttft = n > 0 ? tokens.t_ms[0]! : Number.NaN;
    const total = n > 0 ? tokens.t_ms[n - 1]! : Number.NaN;
    const decode = total - ttft;
    const summary: RunSummary = {
      prompt_id: run.promptId,
      prompt_class: run.promptClass,
      prompt_tags: run.tags.join(","),
      prompt_mode: run.mode,
      prompt_text: run.prompt,
      prompt_tokens: promptTokens ?? 0,
      depth_tokens: 0,
      max_tokens: run.maxTokens,
      threads: null,
      batch_size: null,
      context_size: this.info.context_size,
      cpu_affinity: "",
      temperature: run.temperature,
      top_k: run.topK,
      top_p: run.topP,
      sampling_seed: run.seed,
      stop_reason: run.stopReason,
      output_tokens: n,
      started_at_ms: run.startedAt,
      prefill_ms: null,
      ttft_ms: ttft,
      decode_ms: decode,
      total_ms: total,
      e2e_tokens_per_s: n / (total / 1000),
      decode_tokens_per_s: n > 1 ? (n - 1) / (decode / 1000) : Number.NaN,
      engine_prompt_ms: final.promptMs,
      engine_prompt_tokens: final.promptN,
      engine_decode_ms: final.decodeMs,
      engine_decode_tokens: final.decodeN,
    };
    return { summary, tokens };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Sampling settings one request passes through. */
interface SamplingOptions {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** What a model file tells when the server runs on this machine and names a readable file. */
interface LocalModel {
  architecture: string;
  parameters: number;
  fileBytes: number;
  tensorBytes: number;
  quantization: string;
  dominantType: string;
  typeShares: string;
  sha256: string;
  synthetic: boolean;
  preset: string;
  /** Synthetic byte-level BPE models: token ids that are not valid UTF-8 alone (see below). */
  invalidUtf8: number[];
}

async function localModel(base: string, path: string): Promise<LocalModel | undefined> {
  const host = new URL(base).hostname;
  if (path === "" || !["127.0.0.1", "localhost", "[::1]"].includes(host)) return undefined;
  try {
    const gguf = await readGguf(path);
    const meta = (key: string) =>
      gguf.metadata[key] as { type?: string; value?: unknown; values?: unknown[] } | undefined;
    const preset = meta("tokentrace.preset");
    const byteLevel = meta("tokenizer.ggml.model")?.value === "gpt2";
    return {
      architecture: gguf.architecture ?? "",
      parameters: gguf.parameterCount,
      fileBytes: gguf.fileBytes,
      tensorBytes: gguf.tensorBytes,
      quantization: gguf.quantization ?? "",
      dominantType: gguf.dominantQuantization ?? "",
      typeShares: formatTypeShares(gguf.tensorTypeBytes),
      sha256: await sha256File(path),
      synthetic: gguf.synthetic,
      preset: preset?.type === "string" ? String(preset.value) : "",
      invalidUtf8: gguf.synthetic && byteLevel
        ? invalidUtf8Tokens(
          (meta("tokenizer.ggml.tokens")?.values ?? []).map(String),
          (meta("tokenizer.ggml.token_type")?.values ?? []).map(Number),
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
    model_architecture: file?.architecture ?? facts.architecture,
    model_parameters: file?.parameters ?? facts.parameters,
    model_file_bytes: file?.fileBytes ?? null,
    model_tensor_bytes: file?.tensorBytes ?? facts.tensorBytes,
    model_quantization: file?.quantization ?? facts.quantization,
    model_dominant_type: file?.dominantType ?? "",
    model_type_shares: file?.typeShares ?? "",
    model_sha256: file?.sha256 ?? "",
    model_synthetic: file?.synthetic ?? false,
    model_preset: file?.preset ?? "",
  };
  return new HttpSession(http, facts, model, info, file?.invalidUtf8 ?? []);
}
