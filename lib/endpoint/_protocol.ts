/**
 * The two streaming APIs as tokentrace speaks them: the request for a run (OpenAI-compatible
 * `/v1/completions` and `/v1/chat/completions`; Ollama's `/api/generate` and `/api/chat`), and
 * the reading of the answer's events into text chunks and the server's final counts.
 *
 * @module
 */

import type { StopReason } from "../tracer/source.ts";
import type { RunSettings } from "../tracer/_run.ts";
import { type EndpointApi, serverMessage } from "./server.ts";

/** One parsed chunk of a streaming answer. */
export interface Chunk {
  /** Arrival time of the read that completed it, ms since the run's start. */
  t: number;
  text: string;
  /** Tokens the chunk carries when the server says (llama-server's per-chunk `predicted_n`). */
  count: number | undefined;
}

/** What the end of a streaming answer says. */
export interface Final {
  finishReason: string | undefined;
  completionTokens: number | undefined;
  promptTokens: number | undefined;
  promptMs: number | null;
  promptN: number | null;
  decodeMs: number | null;
  decodeN: number | null;
  error: string | undefined;
}

/** A streaming answer's events, read as the API writes them: text chunks and the final counts. */
export function parseEvents(
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

/** Stop reasons by the OpenAI `finish_reason` (and Ollama `done_reason`) they stand for. */
export const STOP: Readonly<Record<string, StopReason>> = {
  length: "max_tokens",
  stop: "eos",
};

/** A run's request: what to ask of which model, and the token ids to ban. */
export interface RunRequest {
  /** The model asked for. */
  model: string;
  /** The prompt text. */
  prompt: string;
  /** `chat` (one user message) or `raw` (the text as is). */
  mode: "chat" | "raw";
  /** Budget and sampling. */
  sampling: Pick<RunSettings, "maxTokens" | "temperature" | "topK" | "topP" | "seed">;
  /** Token ids the server must not sample (OpenAI-compatible servers only). */
  banned: readonly number[];
}

/** The path and JSON body of a streaming request for a run in the API. */
export function requestFor(api: EndpointApi, run: RunRequest): { path: string; body: unknown } {
  const { model, prompt, mode, sampling: o, banned } = run;
  if (api === "ollama") {
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
    ...(banned.length === 0 ? {} : { logit_bias: banned.map((id) => [id, false]) }),
  };
  return mode === "chat"
    ? {
      path: "/v1/chat/completions",
      body: { ...common, messages: [{ role: "user", content: prompt }] },
    }
    : { path: "/v1/completions", body: { ...common, prompt } };
}
