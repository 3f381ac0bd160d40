/**
 * Types shared by the analysis functions: the trace they read, estimates with intervals and
 * test results.
 *
 * @module
 */

import type { Frame, LazyFrame } from "../schema/frame.ts";

/**
 * A dataset table, eager or lazy. The analysis reads it with nodejs-polars, so at run time
 * it must be a nodejs-polars `DataFrame` or `LazyDataFrame` (as `readDataset()` and
 * `simulateTrace()` return); any other value is refused with a `TypeError`.
 */
export type TraceTable = Frame | LazyFrame;

/**
 * A trace: the three dataset tables with the columns of `SCHEMA` (as `readDataset()` and
 * `simulateTrace()` return them). Analysis functions select only the columns they need.
 */
export interface Trace {
  /** One row per session (`SCHEMA.sessions`). */
  readonly sessions: TraceTable;
  /** One row per run (`SCHEMA.runs`). */
  readonly runs: TraceTable;
  /** One row per generated token (`SCHEMA.tokens`). */
  readonly tokens: TraceTable;
}

export type { Estimate } from "../stats/stats.ts";

/**
 * Result of a resampling test: a permutation test (prompt class) or a wild cluster bootstrap
 * test (token content), whose replicates are counted in `permutations`.
 */
export interface PermutationTest {
  /** Observed value of the test statistic. */
  readonly statistic: number;
  /** Name of the statistic, e.g. `F`. */
  readonly statisticName: string;
  /** Resampling p-value `(1 + #{T* >= T}) / (1 + permutations)`. */
  readonly pValue: number;
  /** Number of permutations (or bootstrap replicates) drawn. */
  readonly permutations: number;
  /** What was resampled, within which units, with how many replicates and which seed. */
  readonly method: string;
}
