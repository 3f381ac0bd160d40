/**
 * What every trace source does around a run, whatever produces the tokens: checking the
 * settings of {@linkcode TraceOptions} they all take, building the {@linkcode RunSummary}
 * from the tokens' times, and handing token events to the one consumer of a `stream()`.
 *
 * @module
 */

import type { RunSummary, TokenEvent, TraceOptions, TraceResult, TraceStream } from "./source.ts";

/** Throws a `RangeError` unless `value` is an integer >= 1. */
export function positiveInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot ${what}: expected a positive integer, found ${value}`);
  }
}

/** Throws a `RangeError` unless `value` is an integer >= 0. */
export function nonNegativeInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`Cannot ${what}: expected an integer >= 0, found ${value}`);
  }
}

/** Throws a `TypeError` unless `mode` is `chat` or `raw`. */
export function checkMode(what: string, mode: string): void {
  if (mode !== "chat" && mode !== "raw") {
    throw new TypeError(
      `Cannot ${what}: mode must be "chat" or "raw", found ${JSON.stringify(mode)}`,
    );
  }
}

/** The settings of {@linkcode TraceOptions} every source takes, with their defaults. */
export interface RunSettings {
  mode: "chat" | "raw";
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  depth: number;
  promptId: string;
  promptClass: string;
  tags: readonly string[];
}

/** The prompt, budget, sampling and label settings of a run, defaulted and checked. */
export function runSettings(options: TraceOptions): RunSettings {
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
  } = options;
  checkMode("trace", mode);
  positiveInt("trace with this max tokens", maxTokens);
  nonNegativeInt("trace with this depth", depth);
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
  return { mode, maxTokens, temperature, topK, topP, seed, depth, promptId, promptClass, tags };
}

/** The columns of a run's summary the source knows itself (the rest come from the settings and the token times). */
export type SourceColumns = Pick<
  RunSummary,
  | "prompt_text"
  | "prompt_tokens"
  | "depth_tokens"
  | "threads"
  | "batch_size"
  | "context_size"
  | "cpu_affinity"
  | "stop_reason"
  | "started_at_ms"
  | "prefill_ms"
  | "engine_prompt_ms"
  | "engine_prompt_tokens"
  | "engine_decode_ms"
  | "engine_decode_tokens"
>;

/**
 * A run's summary from its settings, what the source knows, and the times its tokens became
 * available (ms since the run's start, one per output token; ttft and total are NaN without one).
 */
export function runSummary(
  settings: RunSettings,
  source: SourceColumns,
  times: Float64Array,
): RunSummary {
  const n = times.length;
  const ttft = n > 0 ? times[0]! : Number.NaN;
  const total = n > 0 ? times[n - 1]! : Number.NaN;
  const decode = total - ttft;
  return {
    prompt_id: settings.promptId,
    prompt_class: settings.promptClass,
    prompt_tags: settings.tags.join(","),
    prompt_mode: settings.mode,
    prompt_text: source.prompt_text,
    prompt_tokens: source.prompt_tokens,
    depth_tokens: source.depth_tokens,
    max_tokens: settings.maxTokens,
    threads: source.threads,
    batch_size: source.batch_size,
    context_size: source.context_size,
    cpu_affinity: source.cpu_affinity,
    temperature: settings.temperature,
    top_k: settings.topK,
    top_p: settings.topP,
    sampling_seed: settings.seed,
    stop_reason: source.stop_reason,
    output_tokens: n,
    started_at_ms: source.started_at_ms,
    prefill_ms: source.prefill_ms,
    ttft_ms: ttft,
    decode_ms: decode,
    total_ms: total,
    e2e_tokens_per_s: n / (total / 1000),
    decode_tokens_per_s: n > 1 ? (n - 1) / (decode / 1000) : Number.NaN,
    engine_prompt_ms: source.engine_prompt_ms,
    engine_prompt_tokens: source.engine_prompt_tokens,
    engine_decode_ms: source.engine_decode_ms,
    engine_decode_tokens: source.engine_decode_tokens,
  };
}

/**
 * A {@linkcode TraceStream} over a run: `start` begins the run, handing it the function that
 * delivers each event to the consumer (who is woken at once); `stop` is called when the
 * consumer leaves the loop early. The run's result ends the stream (a failure is thrown from
 * the iterator once the events before it were read).
 */
export function eventStream(
  start: (deliver: (event: TokenEvent) => void) => Promise<TraceResult>,
  stop: () => void,
): TraceStream {
  const ready: TokenEvent[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const wakeUp = (): void => {
    wake?.();
    wake = undefined;
  };
  const result = start((event) => {
    ready.push(event);
    wakeUp();
  });
  const end = (error?: unknown): void => {
    failure = error;
    ended = true;
    wakeUp();
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
      stop();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  return { result, [Symbol.asyncIterator]: () => iterator };
}
