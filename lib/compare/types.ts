/**
 * The vocabulary of a comparison between two sessions or datasets: the metrics and how
 * each is labelled, the options, the per-metric result with its verdict, the cells, the
 * environment differences, the warnings and the error thrown when the sides cannot be
 * compared.
 *
 * @module
 */

import type { Estimate } from "../analysis/types.ts";

/** A comparison verdict for one metric. */
export type CompareVerdict = "faster" | "slower" | "no change" | "inconclusive";

/** The metrics `compareSessions()` compares, as their JSON keys. */
export type CompareMetric =
  | "decodeTokensPerS"
  | "ttftMs"
  | "itlP50Ms"
  | "itlP99Ms"
  | "prefillTokensPerS"
  | "e2eTokensPerS";

/** Every metric, in display order. */
export const COMPARE_METRICS: readonly CompareMetric[] = [
  "decodeTokensPerS",
  "ttftMs",
  "itlP50Ms",
  "itlP99Ms",
  "prefillTokensPerS",
  "e2eTokensPerS",
];

/** How each metric is labelled, its unit and which direction is faster. */
export const METRIC_INFO: Readonly<
  Record<
    CompareMetric,
    { readonly label: string; readonly unit: string; readonly higherIsFaster: boolean }
  >
> = {
  decodeTokensPerS: { label: "decode tok/s", unit: "tokens/s", higherIsFaster: true },
  ttftMs: { label: "TTFT ms", unit: "ms", higherIsFaster: false },
  itlP50Ms: { label: "ITL p50 ms", unit: "ms", higherIsFaster: false },
  itlP99Ms: { label: "ITL p99 ms", unit: "ms", higherIsFaster: false },
  prefillTokensPerS: { label: "prefill tok/s", unit: "tokens/s", higherIsFaster: true },
  e2eTokensPerS: { label: "e2e tok/s", unit: "tokens/s", higherIsFaster: true },
};

/** Options of `compareSessions()`. */
export interface CompareOptions {
  /**
   * Noise threshold in percent: a ratio interval inside 1 ± threshold is `no change`.
   *
   * @default {2}
   */
  thresholdPct?: number;
  /**
   * Session of the baseline trace to compare (all of its sessions, pooled, when unset).
   *
   * @default {undefined}
   */
  baselineSession?: string;
  /**
   * Session of the candidate trace to compare (all of its sessions, pooled, when unset).
   *
   * @default {undefined}
   */
  candidateSession?: string;
  /**
   * Fewest measured runs a side should have in the shared cells; fewer gives a warning.
   *
   * @default {10}
   */
  minRuns?: number;
}

/** One metric compared. */
export interface MetricComparison {
  /** The metric's JSON key. */
  readonly metric: CompareMetric;
  /** Display label, e.g. `decode tok/s`. */
  readonly label: string;
  /** Unit of `baseline` and `candidate`. */
  readonly unit: string;
  /** True when a larger value is faster (rates), false for times. */
  readonly higherIsFaster: boolean;
  /**
   * Baseline value: geometric mean over the shared cells of each cell's geometric mean over
   * runs (the quantity whose ratio is estimated).
   */
  readonly baseline: number;
  /** Candidate value, computed like `baseline`. */
  readonly candidate: number;
  /** Candidate / baseline, with its 95% interval and method. */
  readonly ratio: Estimate;
  /** `faster`, `slower`, `no change` or `inconclusive` (see `compareSessions()`). */
  readonly verdict: CompareVerdict;
  /**
   * Smallest true change, in percent, that this much data reports as `faster` (or `slower`)
   * 80% of the time: threshold + (t quantile + normal 0.8 quantile) x standard error, on the
   * log scale. NaN when the interval could not be computed.
   */
  readonly detectablePct: number;
  /** Baseline runs used. */
  readonly baselineRuns: number;
  /** Candidate runs used. */
  readonly candidateRuns: number;
}

/** A prompt and setting, one of the units of pairing. */
export interface CompareCell {
  /** Readable key, e.g. `count depth 0 max 30` (with `threads 2` when threads vary in a side). */
  readonly key: string;
  /** Measured baseline runs in the cell. */
  readonly baselineRuns: number;
  /** Measured candidate runs in the cell. */
  readonly candidateRuns: number;
}

/** A cell that only one side has, left out of the comparison. */
export interface LeftOutCell {
  /** The side that has it. */
  readonly side: "baseline" | "candidate";
  /** Cell key. */
  readonly key: string;
  /** Measured runs it has. */
  readonly runs: number;
}

/** One environment field whose values differ between the sides. */
export interface EnvironmentDifference {
  /** What differs, e.g. `threads`. */
  readonly field: string;
  /** Baseline value(s), comma-separated when a side has several. */
  readonly baseline: string;
  /** Candidate value(s). */
  readonly candidate: string;
}

/** Kinds of comparison warnings. */
export type CompareWarningKind =
  | "few-runs"
  | "slow-first-run"
  | "stalls"
  | "drift"
  | "pooled-sessions"
  | "same-runs";

/** A warning about the data behind the comparison. */
export interface CompareWarning {
  /** Kind of warning. */
  readonly kind: CompareWarningKind;
  /** The side it concerns. */
  readonly side: "baseline" | "candidate" | "both";
  /** One sentence. */
  readonly message: string;
}

/** Result of `compareSessions()`. */
export interface SessionComparison {
  /** Noise threshold, %. */
  readonly thresholdPct: number;
  /** Session ids of the baseline side. */
  readonly baselineSessions: readonly string[];
  /** Session ids of the candidate side. */
  readonly candidateSessions: readonly string[];
  /** One entry per metric. */
  readonly metrics: Readonly<Record<CompareMetric, MetricComparison>>;
  /** The shared cells compared. */
  readonly cells: readonly CompareCell[];
  /** Cells only one side has (not compared). */
  readonly leftOut: readonly LeftOutCell[];
  /** Environment fields that differ. */
  readonly environment: readonly EnvironmentDifference[];
  /** Warnings (too few runs, slow first run, stalls on one side, drift, ...). */
  readonly warnings: readonly CompareWarning[];
}

/** Thrown when two traces cannot be compared (no shared cell, unknown session, no runs). */
export class CompareError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CompareError";
  }
}
