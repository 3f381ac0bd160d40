/**
 * The server side of endpoint tracing: {@linkcode EndpointError}, the APIs a server may speak,
 * the base URL and its credentials, JSON requests with a timeout, the server's own error
 * messages, and probing a server for its API, models and engine (`/api/version`, `/api/tags`,
 * `/v1/models`, `/props`).
 *
 * @module
 */

/** The HTTP API a server speaks. */
export type EndpointApi = "openai" | "ollama";

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

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** The one-line message of a failed fetch (its cause when it has one). */
export function errorText(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  return oneLine(String(e?.cause?.message ?? e?.message ?? error));
}

/** Whether a failed fetch was a refused connection (nothing listens on the port). */
export function isRefused(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${
    (error as { cause?: Error })?.cause?.message ?? ""
  }`;
  return /ECONNREFUSED|Connection refused|os error 111/i.test(text);
}

/** Base URL without credentials, query or trailing `/v1`, and the credentials as a header. */
export function parseBase(url: string): { base: string; basic: string | undefined } {
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

/** Where and how to send requests: the base URL, headers (credentials) and the timeout, ms. */
export interface Http {
  base: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** GET/POST JSON with a timeout; undefined for a 404 or a body that is not JSON. */
export async function requestJson(
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
export function serverMessage(json: unknown, text: string): string {
  const e = (json as { error?: unknown; message?: unknown })?.error ??
    (json as { message?: unknown })?.message;
  const message = typeof e === "string"
    ? e
    : typeof (e as { message?: unknown })?.message === "string"
    ? (e as { message: string }).message
    : text;
  return oneLine(message).slice(0, 300) || "no message";
}

/** What probing a server found: its API, models, engine, and the model facts it exposes. */
export interface ServerFacts {
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

/**
 * Probes a server: Ollama (`/api/version`, `/api/tags`) unless `api` is `openai`, then
 * OpenAI-compatible (`/v1/models`, llama-server's `/props`).
 *
 * @throws {EndpointError} When the server speaks neither API (or not the one asked for).
 */
export async function serverFacts(http: Http, api: EndpointApi | "auto"): Promise<ServerFacts> {
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
