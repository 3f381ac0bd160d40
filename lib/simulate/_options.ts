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
   * AR(1) coefficient phi of the within-run decode noise: `e_k = phi * e_(k-1) + innovation`,
   * restarted at every run from its stationary distribution. Innovations are scaled by
   * `sqrt(1 - phi^2)`, so the noise's variance stays `noiseSdMs^2` whatever phi is. Models
   * the serial dependence of real decode latencies (thermal and frequency states, cache and
   * scheduler effects persist over several tokens). Must lie in (-1, 1).
   *
   * @default {0}
   */
  arCoefficient?: number;
  /**
   * Student-t degrees of freedom of the noise innovations, rescaled to unit variance (so
   * `noiseSdMs` stays the noise's standard deviation). Infinity means Gaussian innovations.
   * Models heavy-tailed jitter short of a stall. Must be > 2.
   *
   * @default {Infinity}
   */
  innovationDf?: number;
  /**
   * Mean length, in tokens, of blocks of consecutive tokens that share one character class
   * (block lengths are geometric: each token starts a new block with probability
   * `1 / contentBlockTokens`). A block's first piece is drawn uniformly from the whole
   * vocabulary and the others uniformly from that piece's class, so every piece's marginal
   * distribution is unchanged. Models clustered text: runs of digits, code, punctuation.
   * 1 means every piece is drawn independently. Must be >= 1.
   *
   * @default {1}
   */
  contentBlockTokens?: number;
  /**
   * Amplitude of slow session drift, as a fraction (0.04 = ±4%): every decode token's
   * latency (before any stall) is multiplied by
   * `1 + driftAmplitude * sin(2 * pi * t / driftPeriodS + phase)`, with t the session time
   * at the token's start in s and the phase drawn from the seed. Models thermal and
   * background-load cycles over a session. Must lie in [0, 1).
   *
   * @default {0}
   */
  driftAmplitude?: number;
  /**
   * Period of the session drift of `driftAmplitude`, in s. Must be > 0.
   *
   * @default {60}
   */
  driftPeriodS?: number;
  /**
   * Factor on every simulated latency (decode tokens and time to first token), applied after
   * every other effect. Models a uniformly faster or slower machine or build: two sessions
   * with the same seed and different scales have a known speed ratio. Must be > 0.
   *
   * @default {1}
   */
  latencyScale?: number;
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
