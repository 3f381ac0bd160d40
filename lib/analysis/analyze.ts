/**
 * One call that runs every analysis on a trace, for reports and notebooks.
 *
 * Folder `lib/analysis/`: statistics on traces: slowdown, variance, prompt-class and
 * token-content tests, stalls, dependence, physics. May import: schema, stats.
 *
 * @module
 */

import { type AnalysisInput, prepareTrace } from "./prepare.ts";
import { fitSlowdown, type SlowdownOptions, type SlowdownResult } from "./slowdown.ts";
import { decomposeVariance, type VarianceOptions, type VarianceResult } from "./variance.ts";
import {
  type PromptClassOptions,
  type PromptClassResult,
  testPromptClass,
} from "./prompt_class.ts";
import {
  testTokenContent,
  type TokenContentOptions,
  type TokenContentResult,
} from "./token_content.ts";
import {
  originalTable,
  type OriginalTableResult,
  runStory,
  type RunStoryResult,
} from "./run_story.ts";
import {
  detectStalls,
  type DriftResult,
  sessionDrift,
  type StallOptions,
  type StallResult,
  warmupEffect,
  type WarmupResult,
} from "./stalls.ts";
import {
  type AutocorrelationOptions,
  type AutocorrelationResult,
  decodeAutocorrelation,
} from "./dependence.ts";
import { physicsCheck, type PhysicsInputs, type PhysicsResult } from "./physics.ts";

/** Options of `analyzeTrace()`: a seed for everything plus per-analysis options. */
export interface AnalyzeOptions {
  /**
   * Seed of every resampling (a section's own `seed` wins).
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Options of `fitSlowdown()`.
   *
   * @default {{}}
   */
  slowdown?: SlowdownOptions;
  /**
   * Options of `decomposeVariance()`.
   *
   * @default {{}}
   */
  variance?: VarianceOptions;
  /**
   * Options of `testPromptClass()`.
   *
   * @default {{}}
   */
  promptClass?: PromptClassOptions;
  /**
   * Options of `testTokenContent()`.
   *
   * @default {{}}
   */
  tokenContent?: TokenContentOptions;
  /**
   * Options of `detectStalls()`.
   *
   * @default {{}}
   */
  stalls?: StallOptions;
  /**
   * Options of `decodeAutocorrelation()`.
   *
   * @default {{}}
   */
  autocorrelation?: AutocorrelationOptions;
  /**
   * Prompts of the original-table rebuild, in row order (default: every prompt).
   *
   * @default {undefined}
   */
  originalPromptIds?: readonly string[];
  /**
   * Bandwidth and geometry for the physics check; without them the check is skipped.
   *
   * @default {undefined}
   */
  physics?: PhysicsInputs;
}

/** Everything `analyzeTrace()` found. */
export interface TraceAnalysis {
  /** Sessions in the trace. */
  readonly sessions: number;
  /** Runs in the trace. */
  readonly runs: number;
  /** Warm-up runs in the trace. */
  readonly warmupRuns: number;
  /** Decode tokens in the trace. */
  readonly tokens: number;
  /** Prompt classes. */
  readonly classes: readonly string[];
  /** Slowdown curve. */
  readonly slowdown: SlowdownResult;
  /** Variance decomposition. */
  readonly variance: VarianceResult;
  /** Prompt-class effect and test. */
  readonly promptClass: PromptClassResult;
  /** Token-content effects and test. */
  readonly tokenContent: TokenContentResult;
  /** Run-level story (null with fewer than 3 timed runs). */
  readonly runStory: RunStoryResult | null;
  /** The original table rebuilt from the runs. */
  readonly originalTable: OriginalTableResult;
  /** Stalls. */
  readonly stalls: StallResult;
  /**
   * Lag-1 and lag-2 autocorrelation of decode latency within runs (null when no run has 3
   * decode tokens).
   */
  readonly autocorrelation: AutocorrelationResult | null;
  /** Warm-up effect (null without warm-up and other runs). */
  readonly warmup: WarmupResult | null;
  /** Drift over session time (null with fewer than 3 runs). */
  readonly drift: DriftResult | null;
  /** Physics check (null without `options.physics`). */
  readonly physics: PhysicsResult | null;
  /** Why a section is null, one line each. */
  readonly notes: readonly string[];
}

/**
 * Runs every analysis on a trace: slowdown curve, variance decomposition, prompt-class and
 * token-content tests, run-level story and original table, stalls, within-run
 * autocorrelation, warm-up, drift and (with
 * bandwidth and geometry) the physics check. The trace is extracted once.
 *
 * @param trace A trace or a prepared trace.
 * @param options Seed, per-analysis options, original-table prompts and physics inputs.
 * @returns Every result, with notes on skipped sections.
 * @throws {RangeError} When no run has decode tokens.
 *
 * @example Analyse a simulated trace
 * ```ts
 * import { analyzeTrace, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const a = analyzeTrace(simulateTrace(), {
 *   slowdown: { resamples: 200 },
 *   variance: { resamples: 50 },
 *   promptClass: { permutations: 199, resamples: 200 },
 *   tokenContent: { permutations: 99, resamples: 50 },
 *   stalls: { resamples: 200 },
 *   autocorrelation: { resamples: 200 },
 * });
 * assert.equal(a.runs, 21);
 * assert.ok(a.autocorrelation !== null && a.autocorrelation.lag1.high < 0.1);
 * assert.equal(a.physics, null);
 * assert.ok(a.warmup !== null && a.warmup.pValue < 0.05);
 * ```
 */
export function analyzeTrace(trace: AnalysisInput, options: AnalyzeOptions = {}): TraceAnalysis {
  const {
    seed = 1,
    slowdown = {},
    variance = {},
    promptClass = {},
    tokenContent = {},
    stalls = {},
    autocorrelation = {},
    originalPromptIds,
    physics,
  } = options;
  const prep = prepareTrace(trace);
  const notes: string[] = [];
  const attempt = <T>(section: string, f: () => T): T | null => {
    try {
      return f();
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      notes.push(`${section}: ${error.message}`);
      return null;
    }
  };
  const slow = fitSlowdown(prep, { seed, ...slowdown });
  let warmupRuns = 0;
  for (let i = 0; i < prep.runs.count; i++) warmupRuns += prep.runs.warmup[i]!;
  return {
    sessions: prep.sessions.count,
    runs: prep.runs.count,
    warmupRuns,
    tokens: prep.tokens.count,
    classes: prep.classes,
    slowdown: slow,
    variance: decomposeVariance(prep, { seed, ...variance }),
    promptClass: testPromptClass(prep, { seed, ...promptClass }),
    tokenContent: testTokenContent(prep, { seed, ...tokenContent }),
    runStory: attempt("run story", () => runStory(prep)),
    originalTable: originalTable(prep, originalPromptIds ? { promptIds: originalPromptIds } : {}),
    stalls: detectStalls(prep, { seed, ...stalls }),
    autocorrelation: attempt(
      "autocorrelation",
      () => decodeAutocorrelation(prep, { seed, ...autocorrelation }),
    ),
    warmup: attempt("warm-up", () => warmupEffect(prep)),
    drift: attempt("drift", () => sessionDrift(prep)),
    physics: physics
      ? attempt("physics", () => physicsCheck(prep, physics, { slope: slow.slopeUsPerToken }))
      : (notes.push("physics: skipped, no bandwidth and geometry given"), null),
    notes,
  };
}
