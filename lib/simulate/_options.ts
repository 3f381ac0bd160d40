/**
 * The plan and injected effects of a simulated experiment (`simulateTrace()`'s options).
 *
 * @module
 */

/** A prompt of a simulated experiment. */
export interface SimulatedPrompt {
  /** `prompt_id`. */
  readonly id: string;
  /** `prompt_class`. */
  readonly class: string;
  /** `prompt_tokens`. */
  readonly promptTokens: number;
  /** `max_tokens`; every simulated run generates exactly this many tokens. */
  readonly maxTokens: number;
}

/** Options of `simulateTrace()`: the experiment plan and the injected effects. */
export interface SimulateOptions {
  /**
   * Seed of every random draw (run order, noise, stalls, tokens).
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Prompts; each is run `repetitions` times at every depth, in a shuffled order.
   *
   * @default {DEFAULT_PROMPTS}
   */
  prompts?: readonly SimulatedPrompt[];
  /**
   * Measured runs per prompt and depth.
   *
   * @default {5}
   */
  repetitions?: number;
  /**
   * Filler depths (`depth_tokens`) to sweep.
   *
   * @default {[0]}
   */
  depths?: readonly number[];
  /**
   * Warm-up runs (of the first prompt at the first depth) before the measured runs.
   *
   * @default {1}
   */
  warmupRuns?: number;
  /**
   * Decode latency at context position 0, in ms.
   *
   * @default {20}
   */
  baseLatencyMs?: number;
  /**
   * Injected slope b: added decode latency per context token, in µs.
   *
   * @default {2}
   */
  slopeUsPerToken?: number;
  /**
   * Injected prompt-class offsets on every decode token of the class's runs, in µs; classes
   * not listed get 0.
   *
   * @default {{ complex: 500 }}
   */
  classOffsetsUs?: Readonly<Record<string, number>>;
  /**
   * Injected penalty on every decode token of a warm-up run, in ms.
   *
   * @default {3}
   */
  warmupPenaltyMs?: number;
  /**
   * Standard deviation of the run-level random intercept, in ms.
   *
   * @default {0.3}
   */
  runSdMs?: number;
  /**
   * Standard deviation of the per-token Gaussian noise, in ms.
   *
   * @default {1}
   */
  noiseSdMs?: number;
  /**
   * Probability that a decode token stalls.
   *
   * @default {0.002}
   */
  stallProbability?: number;
  /**
   * Mean added latency of a stall (uniform between 0.5x and 1.5x this), in ms.
   *
   * @default {40}
   */
  stallMs?: number;
  /**
   * Injected linear drift of decode latency with time in the session, in µs per minute.
   *
   * @default {0}
   */
  driftUsPerMinute?: number;
  /**
   * Injected token-content effect, in µs per byte of the piece. 0 means no content effect.
   *
   * @default {0}
   */
  tokenContentUsPerByte?: number;
  /**
   * Time to first token of an empty prompt, in ms.
   *
   * @default {8}
   */
  prefillBaseMs?: number;
  /**
   * Added time to first token per prompt or depth token, in µs.
   *
   * @default {400}
   */
  prefillUsPerToken?: number;
  /**
   * `model_tensor_bytes` of the session (default: LFM2-350M as Q8_0).
   *
   * @default {378535936}
   */
  modelTensorBytes?: number;
}
