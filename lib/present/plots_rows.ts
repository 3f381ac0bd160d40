/**
 * Charts with one row per label, drawn top to bottom: estimated effects with intervals
 * ({@linkcode plotEffects}), variance shares ({@linkcode plotVarianceShares}), each run's
 * end-to-end against decode rate ({@linkcode plotRunRates}) and candidate/baseline ratios
 * against the no-change band ({@linkcode plotComparison}).
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import type { ChartOptions } from "./plots.ts";
import {
  DECODE_COLOR,
  E2E_COLOR,
  legend,
  render,
  requireFinite,
  requireRows,
  rowLayout,
} from "./_plot_kit.ts";

/** An estimated effect with its interval (an `Estimate` with a label). */
export interface Effect {
  /** What the effect is, e.g. `digits vs letters`. */
  readonly label: string;
  /** Point estimate. */
  readonly value: number;
  /** Lower end of the interval. */
  readonly low: number;
  /** Upper end of the interval. */
  readonly high: number;
}

/** Options of {@linkcode plotEffects}. */
export interface PlotEffectsOptions extends ChartOptions {
  /** Label of the value axis, with its unit. @default "effect (µs per token)" */
  valueLabel?: string;
}

/** A factor's share of the explained variance, with an optional interval. */
export interface VarianceShare {
  /** Factor name, e.g. `context position`. */
  readonly factor: string;
  /** Share of the total variance, from 0 to 1. */
  readonly share: number;
  /** Lower end of the share's interval. */
  readonly low?: number;
  /** Upper end of the share's interval. */
  readonly high?: number;
}

/** Options of {@linkcode plotVarianceShares}. */
export type PlotVarianceSharesOptions = ChartOptions;

/** One run's throughput, end to end and in decode. */
export interface RunRate {
  /** Run label shown on the axis, unique per row (e.g. `count-to-10 #2`). */
  readonly label: string;
  /** Output tokens over the run's total time (TTFT included), tokens/s. */
  readonly e2eTokensPerS: number;
  /** Tokens after the first over the decode time, tokens/s. */
  readonly decodeTokensPerS: number;
}

/** Options of {@linkcode plotRunRates}. */
export type PlotRunRatesOptions = ChartOptions;

/**
 * Draws estimated effects with their intervals (a forest plot): a dot at each estimate,
 * a bar across its interval, and a rule at zero. An interval that crosses the rule is an
 * effect the data cannot tell from none.
 *
 * @param data One row per effect, drawn top to bottom in the given order.
 * @param options Size and value axis label.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no rows, or a row's interval does not contain its value.
 * @throws {TypeError} When a value is not a finite number.
 *
 * @example Two token-content effects
 * ```ts
 * import { plotEffects } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const svg = plotEffects([
 *   { label: "digits", value: 12, low: -30, high: 55 },
 *   { label: "punctuation", value: -8, low: -40, high: 20 },
 * ]);
 * assert.match(svg, />punctuation</);
 * ```
 */
export function plotEffects(data: readonly Effect[], options: PlotEffectsOptions = {}): string {
  const { width = 640, height, valueLabel = "effect (µs per token)" } = options;
  const what = "effects";
  requireRows(what, data.length);
  for (const row of data) {
    requireFinite(what, "value", row.value);
    requireFinite(what, "low", row.low);
    requireFinite(what, "high", row.high);
    if (!(row.low <= row.value && row.value <= row.high)) {
      throw new RangeError(
        `Cannot plot effects: the interval of "${row.label}" must contain its value, found ${row.value} outside [${row.low}, ${row.high}]`,
      );
    }
  }
  return render({
    ...rowLayout(data.map((row) => row.label), { width, height, base: 50, perRow: 30 }),
    x: { label: `${valueLabel} →`, grid: true },
    marks: [
      Plot.ruleX([0], { stroke: "#999" }),
      Plot.ruleY(data, {
        y: "label",
        x1: "low",
        x2: "high",
        stroke: DECODE_COLOR,
        strokeWidth: 2,
      }),
      Plot.dot(data, { y: "label", x: "value", fill: DECODE_COLOR, r: 4 }),
    ],
  });
}

/**
 * Draws each factor's share of the variance as a horizontal bar, with its interval as a
 * line when given, in the given order.
 *
 * @param data One row per factor; shares from 0 to 1.
 * @param options Size.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no rows or a share is outside [0, 1].
 * @throws {TypeError} When a value is not a finite number.
 *
 * @example Three factors and the residual
 * ```ts
 * import { plotVarianceShares } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const svg = plotVarianceShares([
 *   { factor: "context position", share: 0.3, low: 0.2, high: 0.4 },
 *   { factor: "run", share: 0.1 },
 *   { factor: "residual", share: 0.6 },
 * ]);
 * assert.match(svg, />residual</);
 * ```
 */
export function plotVarianceShares(
  data: readonly VarianceShare[],
  options: PlotVarianceSharesOptions = {},
): string {
  const { width = 640, height } = options;
  const what = "variance shares";
  requireRows(what, data.length);
  for (const row of data) {
    for (const field of ["share", "low", "high"] as const) {
      const value = row[field];
      if (value === undefined) continue;
      requireFinite(what, field, value);
      if (value < 0 || value > 1) {
        throw new RangeError(
          `Cannot plot ${what}: ${field} of "${row.factor}" must be in [0, 1], found ${value}`,
        );
      }
    }
  }
  const withInterval = data.filter((row) => row.low !== undefined && row.high !== undefined);
  return render({
    ...rowLayout(data.map((row) => row.factor), { width, height, base: 50, perRow: 30 }),
    marginRight: 50,
    x: { label: "share of variance (%) →", domain: [0, 100], grid: true },
    marks: [
      Plot.barX(data, {
        y: "factor",
        x: (row: VarianceShare) => row.share * 100,
        fill: DECODE_COLOR,
        fillOpacity: 0.7,
      }),
      Plot.ruleY(withInterval, {
        y: "factor",
        x1: (row: VarianceShare) => row.low! * 100,
        x2: (row: VarianceShare) => row.high! * 100,
        stroke: "#222",
      }),
      Plot.text(data, {
        y: "factor",
        x: (row: VarianceShare) => Math.max(row.share, row.high ?? 0) * 100,
        text: (row: VarianceShare) => `${(row.share * 100).toFixed(1)}%`,
        dx: 4,
        textAnchor: "start",
      }),
    ],
  });
}

/**
 * Draws each run's end-to-end rate (TTFT included) next to its decode rate, joined by a
 * line: the gap is what the time to first token costs that run.
 *
 * @param data One row per run, drawn top to bottom in the given order.
 * @param options Size.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no rows or labels repeat.
 * @throws {TypeError} When a rate is not a finite number.
 *
 * @example The gap between e2e and decode rate
 * ```ts
 * import { plotRunRates } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const svg = plotRunRates([
 *   { label: "count-to-10 #1", e2eTokensPerS: 54.7, decodeTokensPerS: 60.1 },
 *   { label: "explain-ml #1", e2eTokensPerS: 44.8, decodeTokensPerS: 59.5 },
 * ]);
 * assert.match(svg, />decode</);
 * ```
 */
export function plotRunRates(data: readonly RunRate[], options: PlotRunRatesOptions = {}): string {
  const { width = 640, height } = options;
  const what = "run rates";
  requireRows(what, data.length);
  const labels = new Set<string>();
  for (const row of data) {
    requireFinite(what, "e2eTokensPerS", row.e2eTokensPerS);
    requireFinite(what, "decodeTokensPerS", row.decodeTokensPerS);
    if (labels.has(row.label)) {
      throw new RangeError(
        `Cannot plot ${what}: labels must be unique, found "${row.label}" twice`,
      );
    }
    labels.add(row.label);
  }
  const long = data.flatMap((row) => [
    { label: row.label, rate: "end to end", tokensPerS: row.e2eTokensPerS },
    { label: row.label, rate: "decode", tokensPerS: row.decodeTokensPerS },
  ]);
  return render({
    ...rowLayout(data.map((row) => row.label), { width, height, base: 70, perRow: 22 }),
    x: { label: "tokens/s →", grid: true },
    marginTop: 30,
    color: { domain: ["end to end", "decode"], range: [E2E_COLOR, DECODE_COLOR] },
    marks: [
      Plot.ruleY(data, { y: "label", x1: "e2eTokensPerS", x2: "decodeTokensPerS", stroke: "#bbb" }),
      Plot.dot(long, { y: "label", x: "tokensPerS", fill: "rate", r: 4 }),
      ...legend([{ label: "end to end", color: E2E_COLOR }, {
        label: "decode",
        color: DECODE_COLOR,
      }]),
    ],
  });
}

/** One metric's ratio for {@linkcode plotComparison}. */
export interface RatioRow {
  /** Metric label, e.g. `decode tok/s`. */
  readonly label: string;
  /** Candidate / baseline. */
  readonly value: number;
  /** Lower end of its interval. */
  readonly low: number;
  /** Upper end of its interval. */
  readonly high: number;
  /** Verdict shown by colour: `faster`, `slower`, `no change` or `inconclusive`. */
  readonly verdict: string;
}

/** Options of {@linkcode plotComparison}. */
export interface PlotComparisonOptions extends ChartOptions {
  /** Noise threshold in percent: the band 1 ± threshold is shaded. @default 2 */
  thresholdPct?: number;
}

const VERDICT_COLORS: Readonly<Record<string, string>> = {
  faster: "#59a14f",
  slower: "#e15759",
  "no change": "#4e79a7",
  inconclusive: "#9c9c9c",
};

/**
 * Draws each metric's candidate/baseline ratio with its interval against the no-change band
 * 1 ± threshold (shaded) and a rule at 1; the colour is the verdict. Rows whose interval is
 * unknown (NaN) are drawn as a dot only.
 *
 * @param data One row per metric, drawn top to bottom in the given order.
 * @param options Size and threshold.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no rows or the threshold is not in (0, 100).
 * @throws {TypeError} When a ratio is not a finite number.
 *
 * @example Two metrics
 * ```ts
 * import { plotComparison } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const svg = plotComparison([
 *   { label: "decode tok/s", value: 1.2, low: 1.15, high: 1.25, verdict: "faster" },
 *   { label: "TTFT ms", value: 0.99, low: 0.985, high: 1.01, verdict: "no change" },
 * ]);
 * assert.match(svg, />decode tok\/s</);
 * assert.match(svg, /#59a14f/);
 * ```
 */
export function plotComparison(
  data: readonly RatioRow[],
  options: PlotComparisonOptions = {},
): string {
  const { width = 640, height, thresholdPct = 2 } = options;
  const what = "comparison";
  requireRows(what, data.length);
  if (!(thresholdPct > 0 && thresholdPct < 100)) {
    throw new RangeError(
      `Cannot plot comparison: thresholdPct must be > 0 and < 100, found ${thresholdPct}`,
    );
  }
  for (const row of data) requireFinite(what, "value", row.value);
  const t = thresholdPct / 100;
  const bars = data.filter((row) => Number.isFinite(row.low) && Number.isFinite(row.high));
  const color = (row: RatioRow): string => VERDICT_COLORS[row.verdict] ?? "#333";
  return render({
    ...rowLayout(data.map((row) => row.label), { width, height, base: 60, perRow: 30 }),
    x: { label: "candidate / baseline →", grid: true },
    marks: [
      Plot.rectX([{ x1: 1 - t, x2: 1 + t }], {
        x1: "x1",
        x2: "x2",
        fill: "#e8e8e8",
      }),
      Plot.ruleX([1], { stroke: "#777" }),
      Plot.ruleY(bars, {
        y: "label",
        x1: "low",
        x2: "high",
        stroke: color,
        strokeWidth: 3,
      }),
      Plot.dot(data, { y: "label", x: "value", fill: color, r: 4.5 }),
      Plot.text(data, {
        y: "label",
        frameAnchor: "right",
        text: "verdict",
        dx: -2,
        dy: -9,
        textAnchor: "end",
        fontSize: 10,
        fill: color,
      }),
    ],
  });
}
