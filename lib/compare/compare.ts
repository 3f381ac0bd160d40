/**
 * Compares two sessions (or two datasets): is the candidate faster than the baseline, by how
 * much, and how sure is the answer. Runs are the units; cells (prompt and setting) are
 * matched between the sides. This file holds the entry point, {@linkcode compareSessions};
 * the sides and their run-level metrics are read in `_sides.ts`, each metric's estimate and
 * verdict made in `_estimate.ts`, and the warnings and environment differences found in
 * `_warnings.ts`; the result types are in `types.ts`.
 *
 * Folder `lib/compare/`: comparing two sessions: ratios, intervals, verdicts, environment
 * differences, warnings. May import: analysis, schema, stats.
 *
 * @module
 */

import type { Trace } from "../analysis/types.ts";
import { CELL_SETTINGS } from "./_columns.ts";
import { compareMetric } from "./_estimate.ts";
import { countBy, finishSide, list, readSide } from "./_sides.ts";
import { environmentDifferences, sideWarnings, stallWarning } from "./_warnings.ts";
import {
  COMPARE_METRICS,
  CompareError,
  type CompareMetric,
  type CompareOptions,
  type CompareWarning,
  type LeftOutCell,
  type MetricComparison,
  type SessionComparison,
} from "./types.ts";

/**
 * Compares a candidate with a baseline, metric by metric: decode tokens/s, TTFT, ITL p50 and
 * p99, prefill tokens/s and e2e tokens/s, each as a candidate/baseline ratio with a 95%
 * interval and a verdict.
 *
 * Method. Each measured run (warm-ups left out) gives one value per metric (its decode
 * rate, its TTFT, the median and p99 of its own decode latencies, ...): runs are the units,
 * so tokens within a run may be autocorrelated freely. Runs are matched by cell: prompt,
 * depth and output budget, plus threads and batch size when those vary within a side
 * (settings constant on each side are environment). Within each shared cell, the log ratio is
 * the difference of the two sides' mean log values; the estimate is the mean over cells.
 * Its standard error uses each side's within-cell variance of log values, pooled over cells
 * (so 5 runs a cell still give a stable variance), and the interval is a Welch t interval
 * with Satterthwaite degrees of freedom, mapped back to a ratio. When both sides are the very
 * same runs the ratio is exactly 1 with a zero-width interval.
 *
 * Verdict (threshold t, default 2%): `no change` when the interval lies inside [1 - t, 1 + t];
 * `faster` when it lies wholly on the faster side of the band (above 1 + t for rates, below
 * 1 - t for times), `slower` the other way; `inconclusive` when it straddles an edge.
 *
 * @param baseline The baseline trace (a dataset, or one session of it with `baselineSession`).
 * @param candidate The candidate trace (may be the same dataset, with `candidateSession`).
 * @param options Threshold, session selection and the run-count warning.
 * @returns Per-metric ratios and verdicts, the cells, environment differences and warnings.
 * @throws {CompareError} When a side has no measured run, a session id is not in its trace,
 * or no cell is shared.
 * @throws {RangeError} When the threshold is not a positive number below 100.
 *
 * @example A 10% faster candidate
 * ```ts
 * import { compareSessions, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const baseline = simulateTrace({ seed: 1, repetitions: 5 });
 * const candidate = simulateTrace({ seed: 2, repetitions: 5, baseLatencyMs: 18 });
 * const result = compareSessions(baseline, candidate);
 * assert.equal(result.metrics.decodeTokensPerS.verdict, "faster");
 * assert.ok(result.metrics.decodeTokensPerS.ratio.low > 1.02);
 * ```
 */
export function compareSessions(
  baseline: Trace,
  candidate: Trace,
  options: CompareOptions = {},
): SessionComparison {
  const { thresholdPct = 2, baselineSession, candidateSession, minRuns = 10 } = options;
  if (!(thresholdPct > 0 && thresholdPct < 100)) {
    throw new RangeError(
      `Cannot compare sessions: thresholdPct must be a number > 0 and < 100, found ${thresholdPct}`,
    );
  }
  const settingsVary = new Set<string>();
  const rawB = readSide("baseline", baseline, baselineSession);
  const rawC = readSide("candidate", candidate, candidateSession);
  for (const { role } of CELL_SETTINGS) {
    if (rawB.settings[role].size > 1 || rawC.settings[role].size > 1) settingsVary.add(role);
  }
  const b = finishSide(rawB, settingsVary);
  const c = finishSide(rawC, settingsVary);

  const cellsB = countBy(b.cell);
  const cellsC = countBy(c.cell);
  const shared = [...cellsB.keys()].filter((k) => cellsC.has(k)).sort();
  const leftOut: LeftOutCell[] = [
    ...[...cellsB].filter(([k]) => !cellsC.has(k)).map(([key, runs]) => ({
      side: "baseline" as const,
      key,
      runs,
    })),
    ...[...cellsC].filter(([k]) => !cellsB.has(k)).map(([key, runs]) => ({
      side: "candidate" as const,
      key,
      runs,
    })),
  ];
  if (shared.length === 0) {
    throw new CompareError(
      `Cannot compare sessions: baseline and candidate share no prompt and setting (baseline has ${
        list([...cellsB.keys()])
      }; candidate has ${list([...cellsC.keys()])}); trace both with the same suite`,
    );
  }
  const sharedSet = new Set(shared);
  const sameRuns = b.runId.length === c.runId.length &&
    b.runId.every((id, i) => id === c.runId[i]);
  const metrics = {} as Record<CompareMetric, MetricComparison>;
  for (const m of COMPARE_METRICS) {
    metrics[m] = compareMetric(m, b, c, shared, thresholdPct, sameRuns);
  }
  const cells = shared.map((key) => ({
    key,
    baselineRuns: cellsB.get(key)!,
    candidateRuns: cellsC.get(key)!,
  }));
  const warnings: CompareWarning[] = [];
  if (sameRuns) {
    warnings.push({
      kind: "same-runs",
      side: "both",
      message: "both sides hold the same runs: the ratio is exactly 1 by construction",
    });
  }
  for (const side of [b, c]) {
    if (side.sessions.length > 1) {
      warnings.push({
        kind: "pooled-sessions",
        side: side.name,
        message: `${side.name} pools ${side.sessions.length} sessions (${
          side.sessions.join(", ")
        }); pass a session to compare one`,
      });
    }
    sideWarnings(side, sharedSet, thresholdPct, minRuns, warnings);
  }
  stallWarning(b, c, sharedSet, warnings);
  return {
    thresholdPct,
    baselineSessions: b.sessions,
    candidateSessions: c.sessions,
    metrics,
    cells,
    leftOut,
    environment: environmentDifferences(b, c),
    warnings,
  };
}
