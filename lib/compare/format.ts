/**
 * Printers of a session comparison: a Markdown table with the environment differences and
 * warnings, and a plain JSON object keyed by metric.
 *
 * @module
 */

import { COMPARE_METRICS, type CompareMetric, type CompareVerdict } from "./types.ts";
import type { SessionComparison } from "./types.ts";

/** One metric in `comparisonJson()`'s output. */
export interface MetricJson {
  /** Baseline value (geometric mean over cells and runs). */
  readonly baseline: number | null;
  /** Candidate value. */
  readonly candidate: number | null;
  /** Candidate / baseline with its 95% interval and method. */
  readonly ratio: {
    readonly value: number | null;
    readonly low: number | null;
    readonly high: number | null;
    readonly method: string;
  };
  /** The verdict. */
  readonly verdict: CompareVerdict;
  /** Smallest change (%) this data would detect (80% power); null when unknown. */
  readonly detectablePct: number | null;
  /** Unit of baseline and candidate. */
  readonly unit: string;
}

/** `comparisonJson()`'s output: one key per metric plus the context. */
export type ComparisonJson = Record<CompareMetric, MetricJson> & {
  /** Noise threshold, %. */
  readonly thresholdPct: number;
  /** Session ids of each side. */
  readonly sessions: {
    readonly baseline: readonly string[];
    readonly candidate: readonly string[];
  };
  /** Shared cells compared. */
  readonly cells: SessionComparison["cells"];
  /** Cells left out. */
  readonly leftOut: SessionComparison["leftOut"];
  /** Environment differences. */
  readonly environment: SessionComparison["environment"];
  /** Warning sentences. */
  readonly warnings: readonly string[];
};

const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * The comparison as a plain JSON-ready object: one key per metric (`decodeTokensPerS`,
 * `ttftMs`, `itlP50Ms`, `itlP99Ms`, `prefillTokensPerS`, `e2eTokensPerS`), each with
 * `baseline`, `candidate`, `ratio` (`value`, `low`, `high`, `method`) and `verdict`; NaN
 * becomes null.
 *
 * @param result A `compareSessions()` result.
 * @returns The JSON object.
 *
 * @example Read the decode verdict
 * ```ts
 * import { compareSessions, comparisonJson, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const trace = simulateTrace({ repetitions: 3 });
 * const json = comparisonJson(compareSessions(trace, trace));
 * assert.equal(json.decodeTokensPerS.ratio.value, 1);
 * assert.equal(json.decodeTokensPerS.verdict, "no change");
 * ```
 */
export function comparisonJson(result: SessionComparison): ComparisonJson {
  const out: Record<string, unknown> = {};
  for (const m of COMPARE_METRICS) {
    const r = result.metrics[m];
    out[m] = {
      baseline: num(r.baseline),
      candidate: num(r.candidate),
      ratio: {
        value: num(r.ratio.value),
        low: num(r.ratio.low),
        high: num(r.ratio.high),
        method: r.ratio.method,
      },
      verdict: r.verdict,
      detectablePct: num(r.detectablePct),
      unit: r.unit,
    };
  }
  return {
    ...(out as Record<CompareMetric, MetricJson>),
    thresholdPct: result.thresholdPct,
    sessions: { baseline: result.baselineSessions, candidate: result.candidateSessions },
    cells: result.cells,
    leftOut: result.leftOut,
    environment: result.environment,
    warnings: result.warnings.map((w) => w.message),
  };
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3);
}

function markdownTable(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (cells: string[]): string =>
    `| ${
      cells.map((c, j) => (right[j] ? c.padStart(widths[j]!) : c.padEnd(widths[j]!))).join(" | ")
    } |`;
  const rule = `|${
    widths.map((w, j) => (right[j] ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|")
  }|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/**
 * The comparison as text: a Markdown table with one row per metric (baseline, candidate,
 * ratio with its 95% interval, verdict, smallest detectable change), the cells compared and
 * left out, the environment differences and the warnings.
 *
 * @param result A `compareSessions()` result.
 * @returns Text for a terminal or a Markdown file.
 *
 * @example Format a comparison
 * ```ts
 * import { compareSessions, formatComparison, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const text = formatComparison(
 *   compareSessions(simulateTrace({ seed: 1 }), simulateTrace({ seed: 2, baseLatencyMs: 18 })),
 * );
 * assert.match(text, /\| decode tok\/s .*\| faster/);
 * ```
 */
export function formatComparison(result: SessionComparison): string {
  const rows = COMPARE_METRICS.map((m) => {
    const r = result.metrics[m];
    return [
      r.label,
      fmt(r.baseline),
      fmt(r.candidate),
      Number.isFinite(r.ratio.low)
        ? `${r.ratio.value.toFixed(3)} [${r.ratio.low.toFixed(3)}-${r.ratio.high.toFixed(3)}]`
        : Number.isFinite(r.ratio.value)
        ? `${r.ratio.value.toFixed(3)} [n/a]`
        : "n/a",
      r.verdict,
      Number.isFinite(r.detectablePct) ? `${r.detectablePct.toFixed(1)}%` : "n/a",
    ];
  });
  const parts = [
    `baseline:  ${result.baselineSessions.join(", ")}`,
    `candidate: ${result.candidateSessions.join(", ")}`,
    "",
    markdownTable(
      ["metric", "baseline", "candidate", "ratio [95% CI]", "verdict", "detectable"],
      rows,
      [false, true, true, true, false, true],
    ),
    "",
    `ratio = candidate / baseline (geometric means over runs, per prompt and setting); verdict: no change`,
    `when the interval lies within ±${result.thresholdPct}%, faster/slower when it lies wholly beyond,`,
    `else inconclusive; detectable = smallest change found 80% of the time with this many runs.`,
    `method: ${result.metrics.decodeTokensPerS.ratio.method}`,
    "",
    `cells compared (${result.cells.length}): ${
      result.cells.map((c) => `${c.key} (${c.baselineRuns}+${c.candidateRuns} runs)`).join("; ")
    }`,
  ];
  if (result.leftOut.length > 0) {
    parts.push(
      `left out (on one side only): ${
        result.leftOut.map((c) => `${c.key} (${c.side}, ${c.runs} runs)`).join("; ")
      }`,
    );
  }
  parts.push("");
  if (result.environment.length === 0) parts.push("environment: no differences recorded");
  else {
    parts.push("environment differences:");
    for (const d of result.environment) {
      parts.push(`  ${d.field}: ${d.baseline || "(empty)"} -> ${d.candidate || "(empty)"}`);
    }
  }
  if (result.warnings.length > 0) {
    parts.push("", "warnings:");
    for (const w of result.warnings) parts.push(`  - ${w.message}`);
  }
  return parts.join("\n");
}
