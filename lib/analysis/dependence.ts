/**
 * Serial dependence of decode latency within runs: the diagnostic that says why every test
 * in tokentrace treats runs, not tokens, as the independent units.
 *
 * @module
 */

import { clusterBootstrap, Rng, weightedTotals } from "../stats/rng.ts";
import { bootstrapEstimate, bootstrapMethod, medianInPlace } from "../stats/stats.ts";
import { decodeRuns, stallFlags } from "./_runstats.ts";
import type { AnalysisInput } from "./prepare.ts";
import type { Estimate } from "./types.ts";

/** Options of `decodeAutocorrelation()`. */
export interface AutocorrelationOptions {
  /**
   * Seed of the cluster bootstrap.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Bootstrap resamples (of runs, with replacement).
   *
   * @default {1000}
   */
  resamples?: number;
  /**
   * Include warm-up runs.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
}

/** Result of `decodeAutocorrelation()`. */
export interface AutocorrelationResult {
  /** Runs pooled. */
  readonly runs: number;
  /** Decode tokens pooled. */
  readonly tokens: number;
  /** Stalls clipped to the stall threshold before pooling. */
  readonly stallsClipped: number;
  /** Pooled lag-1 autocorrelation of decode latency within runs. */
  readonly lag1: Estimate;
  /** Pooled lag-2 autocorrelation of decode latency within runs. */
  readonly lag2: Estimate;
  /** Median over runs (with at least 3 tokens) of each run's own lag-1 autocorrelation. */
  readonly perRunLag1Median: number;
}

/**
 * Measures how strongly consecutive decode latencies within a run depend on each other:
 * the lag-1 and lag-2 autocorrelations, pooled within runs. Each run's latencies are
 * centred on the run's mean (so run-level shifts do not count as dependence) after clipping
 * stalls (the stall rule of `flagStalls()`) to the stall threshold, so rare pauses do not
 * dominate; the lag-k estimate is the sum over runs of products k tokens apart over the sum
 * of squares. Centring on each run's mean biases the estimate down by about 1 / (tokens per
 * run). Interval: percentile cluster bootstrap over runs (runs are independent, tokens are
 * not). A positive value means a token's latency predicts the next one's: tests that treat
 * tokens as independent would be too confident, which is why tokentrace resamples or
 * permutes whole runs or blocks.
 *
 * @param input A trace or a prepared trace.
 * @param options Seed, resamples and warm-up handling.
 * @returns Lag-1 and lag-2 autocorrelations with intervals.
 * @throws {RangeError} When no run has at least 3 decode tokens, or resamples is not a positive integer.
 *
 * @example Independent noise has no dependence
 * ```ts
 * import { decodeAutocorrelation, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const a = decodeAutocorrelation(simulateTrace({ repetitions: 10 }), { resamples: 200 });
 * assert.ok(a.lag1.low < 0 && a.lag1.high < 0.1);
 * assert.match(a.lag1.method, /^percentile cluster bootstrap over 40 runs/);
 * ```
 */
export function decodeAutocorrelation(
  input: AnalysisInput,
  options: AutocorrelationOptions = {},
): AutocorrelationResult {
  const { seed = 1, resamples = 1000, includeWarmup = false } = options;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(
      `Cannot measure autocorrelation: resamples must be an integer >= 1, found ${resamples}`,
    );
  }
  const { prep, units } = decodeRuns(input, {
    includeWarmup,
    minTokens: 3,
    require: { action: "Cannot measure autocorrelation", run: "run with at least 3 decode tokens" },
  });
  const { flags, runMedian, thresholdMs } = stallFlags(prep);
  const R = prep.runs.count;
  const { run, latencyMs, tokenIndex, count } = prep.tokens;
  // tokens of each run in token-index order
  const byRun: number[][] = Array.from({ length: R }, () => []);
  for (let t = 0; t < count; t++) byRun[run[t]!]!.push(t);
  const U = units.length;
  const ss = new Float64Array(U), c1 = new Float64Array(U), c2 = new Float64Array(U);
  const own = new Float64Array(U);
  let tokens = 0, clipped = 0;
  units.forEach((i, u) => {
    const list = byRun[i]!.sort((a, b) => tokenIndex[a]! - tokenIndex[b]!);
    const y = list.map((t) => {
      if (flags[t] === 1) {
        clipped++;
        return runMedian[i]! + thresholdMs;
      }
      return latencyMs[t]!;
    });
    const mean = y.reduce((a, b) => a + b, 0) / y.length;
    const d = y.map((v) => v - mean);
    for (let k = 0; k < d.length; k++) {
      ss[u]! += d[k]! * d[k]!;
      if (k >= 1) c1[u]! += d[k]! * d[k - 1]!;
      if (k >= 2) c2[u]! += d[k]! * d[k - 2]!;
    }
    own[u] = ss[u]! > 0 ? c1[u]! / ss[u]! : Number.NaN;
    tokens += d.length;
  });
  // lag-1 and lag-2 autocorrelations pooled over the runs weighted by w
  const ratios = (w: Float64Array | null): [number, number] => {
    const [a1, a2, b] = weightedTotals([c1, c2, ss], w);
    return [a1! / b!, a2! / b!];
  };
  const reps = clusterBootstrap(
    new Rng(seed),
    { units: U, resamples, width: 2 },
    ratios,
  );
  const method = `${
    bootstrapMethod(U, resamples, seed)
  }; latencies centred per run, stalls clipped to the stall threshold`;
  const [lag1, lag2] = ratios(null);
  const finiteOwn = Float64Array.from(own.filter((v) => Number.isFinite(v)));
  return {
    runs: U,
    tokens,
    stallsClipped: clipped,
    lag1: bootstrapEstimate(lag1, reps[0]!, "autocorrelation", method),
    lag2: bootstrapEstimate(lag2, reps[1]!, "autocorrelation", method),
    perRunLag1Median: finiteOwn.length > 0 ? medianInPlace(finiteOwn) : Number.NaN,
  };
}
