/**
 * Reading a streaming answer: one POST, then each read of the body timed on this process's
 * monotonic clock as its bytes arrive (one clock read and one array store per read), with a
 * watchdog for a server that stops sending; and, after the run, the split of the reads into
 * events (SSE `data:` lines or NDJSON lines), each with the time of the read that completed it.
 *
 * @module
 */

import type { TokenEvent } from "../tracer/source.ts";
import {
  type EndpointApi,
  EndpointError,
  errorText,
  type Http,
  isRefused,
  serverMessage,
} from "./server.ts";

/** Splits a streaming body into events (SSE `data:` lines or NDJSON lines), with their read's time. */
export function splitEvents(
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

/** One streaming request of a run. */
export interface AnswerRequest {
  /** Path of the request, from the server's base. */
  path: string;
  /** JSON body. */
  body: unknown;
  /** The API, for the content type a streaming answer has. */
  api: EndpointApi;
  /** Output token budget (sizes the time array; it grows when a server sends more reads). */
  maxTokens: number;
  /** Stops the read (the run ends `interrupted`). */
  signal: AbortSignal | undefined;
  /** Called with each read as it arrives. */
  onEvent: ((event: TokenEvent) => void) | undefined;
}

/** What reading a streaming answer got. */
export interface Answer {
  /** The request's URL. */
  url: string;
  /** `performance.now()` when the run's clock started (just before the request). */
  start: number;
  /** The body's reads, in order. */
  reads: Uint8Array[];
  /** Time since the run's start of each read, ms (as many as `reads`). */
  times: Float64Array;
  /** Why the answer broke off (one line), or undefined. */
  failure: string | undefined;
  /** Whether `signal` stopped the read. */
  stopped: boolean;
}

/**
 * Posts a run's request and reads the streaming answer to its end, timing each read.
 *
 * @throws {EndpointError} When the server answers an HTTP error or does not stream.
 */
export async function readAnswer(http: Http, request: AnswerRequest): Promise<Answer> {
  const { path, body, api, maxTokens, signal, onEvent } = request;
  const url = `${http.base}${path}`;
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  signal?.addEventListener("abort", onAbort);
  // Hot path: one clock read and one array store per read of the body; parsing after.
  const reads: Uint8Array[] = [];
  let times = new Float64Array(Math.max(16, maxTokens + 8));
  let lastRead = 0;
  let timedOut = false;
  let failure: string | undefined;
  const timeoutMs = http.timeoutMs;
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
        headers: { ...http.headers, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: abort.signal,
      });
    } catch (error) {
      if (signal?.aborted) throw new Error("Cannot trace: stopped before the server answered");
      failure = timedOut
        ? `no answer from ${url} within ${timeoutMs} ms`
        : isRefused(error)
        ? `connection refused by ${http.base}`
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
      const streaming = api === "ollama" ? /ndjson/.test(type) : /text\/event-stream/.test(type);
      if (!streaming) {
        await response.body?.cancel().catch(() => {});
        throw new EndpointError(
          `Cannot trace through ${url}: the server answered without streaming (content-type ${
            JSON.stringify(type)
          }, expected ${
            api === "ollama" ? "application/x-ndjson" : "text/event-stream"
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
  return { url, start, reads, times: times.subarray(0, reads.length), failure, stopped };
}
