/**
 * Chart helpers: each takes plain rows and options and returns a standalone SVG string
 * drawn by Observable Plot on a linkedom document (no browser needed). The strings show
 * inline in HTML, in Jupyter (`Deno.jupyter.svg`) or as `.svg` files.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/** Layout options shared by every chart. */
export interface ChartOptions {
  /** Width of the chart in pixels. @default 640 */
  width?: number;
  /** Height of the chart in pixels; each chart picks a height that suits its rows. */
  height?: number;
}

/** One measured token: its position and its latency. */
export interface PositionPoint {
  /** Position of the token, in tokens: its context position, or its index in the run. */
  readonly position: number;
  /** Latency of the token, in milliseconds. */
  readonly latencyMs: number;
}

/** One point of a fitted curve with its interval, in milliseconds. */
export interface FitPoint {
  /** Context position, in tokens. */
  readonly position: number;
  /** Fitted latency at this position. */
  readonly value: number;
  /** Lower end of the interval. */
  readonly low: number;
  /** Upper end of the interval. */
  readonly high: number;
}

/** Mean latency over a window of positions, with its interval, in milliseconds. */
export interface WindowMean {
  /** First position of the window (inclusive). */
  readonly first: number;
  /** Last position of the window (inclusive). */
  readonly last: number;
  /** Mean latency over the window. */
  readonly value: number;
  /** Lower end of the interval. */
  readonly low: number;
  /** Upper end of the interval. */
  readonly high: number;
}

/** The measured tokens and the fitted curve of {@linkcode plotSlowdown}. */
export interface SlowdownPlotData {
  /** Per-token decode latencies. */
  readonly points: readonly PositionPoint[];
  /** The fit, sorted by position: the line is the estimate, the band the interval; may be empty. */
  readonly fit: readonly FitPoint[];
  /** Window means, drawn as a segment at the mean over a box spanning the interval. */
  readonly windows?: readonly WindowMean[];
}

/** Options of {@linkcode plotSlowdown}. */
export interface PlotSlowdownOptions extends ChartOptions {
  /**
   * The y axis ends at the upper fence Q3 + fence × IQR of the latencies; slower tokens
   * (stalls) are counted in a note instead of squashing the chart.
   * @default 3
   */
  fence?: number;
  /** Most points drawn; larger inputs are thinned to an even stride. @default 4000 */
  maxPoints?: number;
  /** Label of the position axis. @default "context position (tokens)" */
  xLabel?: string;
}

/** One token's latency with the group it belongs to. */
export interface GroupedLatency {
  /** Group label, e.g. a prompt class. */
  readonly group: string;
  /** Latency, in milliseconds. */
  readonly latencyMs: number;
}

/** Options of {@linkcode plotLatencyByGroup}. */
export interface PlotLatencyByGroupOptions extends ChartOptions {
  /**
   * The x axis ends at the upper fence Q3 + fence × IQR of all latencies; slower tokens
   * are counted in a note.
   * @default 3
   */
  fence?: number;
  /** Label of the group axis. @default "prompt class" */
  groupLabel?: string;
}

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

/** One token in the session's time line. */
export interface TimelinePoint {
  /** Time in the session when the token became available, in seconds. */
  readonly timeS: number;
  /** Latency of the token, in milliseconds. */
  readonly latencyMs: number;
  /** Whether the token belongs to a warm-up run. */
  readonly warmup: boolean;
  /** Whether the token was flagged as a stall. */
  readonly stall: boolean;
}

/** One point of a trend line over session time. */
export interface TrendPoint {
  /** Time in the session, in seconds. */
  readonly timeS: number;
  /** Trend value, in milliseconds. */
  readonly latencyMs: number;
}

/** The tokens and the trend of {@linkcode plotTimeline}. */
export interface TimelinePlotData {
  /** Every token, warm-ups included. */
  readonly points: readonly TimelinePoint[];
  /** A line over session time (e.g. each run's median latency), sorted by time; empty for none. */
  readonly trend: readonly TrendPoint[];
}

/** Options of {@linkcode plotTimeline}. */
export interface PlotTimelineOptions extends ChartOptions {
  /** Legend label of the trend line. @default "trend" */
  trendLabel?: string;
  /** Most points drawn; stalls are always kept, the rest thinned to an even stride. @default 4000 */
  maxPoints?: number;
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

const SVG_NS = "http://www.w3.org/2000/svg";
const E2E_COLOR = "#e15759";
const DECODE_COLOR = "#4e79a7";
const WARMUP_COLOR = "#f28e2b";
const STALL_COLOR = "#d62728";

type PlotDocument = NonNullable<Plot.PlotOptions["document"]>;

let sharedDocument: PlotDocument | undefined;

function plotDocument(): PlotDocument {
  if (sharedDocument === undefined) {
    const window = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
      document: PlotDocument;
    };
    sharedDocument = window.document;
  }
  return sharedDocument;
}

/** Renders a Plot spec to an SVG string with `xmlns` set and coordinates rounded. */
function render(options: Plot.PlotOptions): string {
  const chart = Plot.plot({ ...options, document: plotDocument() });
  chart.setAttribute("xmlns", SVG_NS);
  // Plot writes coordinates with 15 digits; two decimals are sub-pixel and keep files small.
  return chart.outerHTML.replace(
    /="([^"]*)"/g,
    (_: string, value: string) => `="${value.replace(/(\d+\.\d\d)\d+/g, "$1")}"`,
  );
}

function requireRows(what: string, count: number): void {
  if (count === 0) throw new RangeError(`Cannot plot ${what}: expected at least one row, found 0`);
}

function requireFinite(what: string, field: string, value: number): void {
  if (!Number.isFinite(value)) {
    throw new TypeError(`Cannot plot ${what}: ${field} must be a finite number, found ${value}`);
  }
}

function requireFence(what: string, fence: number): void {
  if (!(fence >= 0 && Number.isFinite(fence))) {
    throw new RangeError(`Cannot plot ${what}: fence must be a finite number >= 0, found ${fence}`);
  }
}

function requireMaxPoints(what: string, n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`Cannot plot ${what}: maxPoints must be a positive integer, found ${n}`);
  }
}

/** Type-7 quantile of sorted values. */
function quantileSorted(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a + (h - lo) * (b - a);
}

/** Axis end for latencies: Tukey's upper fence Q3 + fence × IQR, plus 5% headroom. */
function axisTop(values: readonly number[], fence: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  return Math.min(q3 + fence * (q3 - q1), sorted[sorted.length - 1]!) * 1.05;
}

function thin<T>(rows: readonly T[], max: number): readonly T[] {
  if (rows.length <= max) return rows;
  const stride = rows.length / max;
  return Array.from({ length: max }, (_, i) => rows[Math.floor(i * stride)]!);
}

/** Left margin that fits the longest label of a categorical axis (10 px sans-serif). */
function labelMargin(labels: readonly string[], min = 40): number {
  return Math.max(min, Math.min(360, 14 + 6 * Math.max(0, ...labels.map((l) => l.length))));
}

/** An inline legend at the top right (Plot's own legend wraps the SVG in HTML). */
function legend(items: readonly { label: string; color: string }[]): Plot.Markish[] {
  let dx = 0;
  return [...items].reverse().flatMap(({ label, color }) => {
    const width = 6.6 * label.length;
    const marks = [
      Plot.text([label], {
        frameAnchor: "top-right",
        dx,
        dy: -18,
        textAnchor: "end",
        fontSize: 11,
      }),
      Plot.dot([label], {
        frameAnchor: "top-right",
        dx: dx - width - 12,
        dy: -14,
        r: 4,
        fill: color,
      }),
    ];
    dx -= width + 30;
    return marks;
  });
}

function clipNote(count: number, top: number): Plot.Markish {
  return count === 0
    ? null
    : Plot.text([`${count} slower tokens above ${top.toFixed(1)} ms not shown`], {
      frameAnchor: "top-right",
      dy: -2,
      fontSize: 10,
      fill: "#666",
    });
}

/**
 * Draws per-token latency against position with the fitted line, its interval band and,
 * when given, window means with their intervals: the slowdown curve.
 *
 * @param data The measured tokens and the fitted curve.
 * @param options Size, clipping and thinning.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no points, or an option is out of range.
 * @throws {TypeError} When a value is not a finite number.
 *
 * @example Draw a fitted slowdown curve
 * ```ts
 * import { plotSlowdown } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const points = Array.from({ length: 40 }, (_, i) => ({ position: 20 + i, latencyMs: 20 + i * 0.01 }));
 * const fit = [20, 59].map((position) => ({
 *   position,
 *   value: 20 + (position - 20) * 0.01,
 *   low: 19.8 + (position - 20) * 0.01,
 *   high: 20.2 + (position - 20) * 0.01,
 * }));
 * const svg = plotSlowdown({ points, fit });
 * assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
 * ```
 */
export function plotSlowdown(data: SlowdownPlotData, options: PlotSlowdownOptions = {}): string {
  const {
    width = 640,
    height = 360,
    fence = 3,
    maxPoints = 4000,
    xLabel = "context position (tokens)",
  } = options;
  const what = "slowdown curve";
  requireRows(`${what} points`, data.points.length);
  requireFence(what, fence);
  requireMaxPoints(what, maxPoints);
  for (const p of data.points) {
    requireFinite(what, "position", p.position);
    requireFinite(what, "latencyMs", p.latencyMs);
  }
  const windows = data.windows ?? [];
  for (const row of [...data.fit, ...windows]) {
    for (const [field, value] of Object.entries(row)) requireFinite(what, field, value as number);
  }
  const top = Math.max(
    axisTop(data.points.map((p) => p.latencyMs), fence),
    ...[...data.fit, ...windows].map((f) => f.high * 1.05),
  );
  const shown = data.points.filter((p) => p.latencyMs <= top);
  return render({
    width,
    height,
    marginTop: 24,
    grid: true,
    x: { label: `${xLabel} →` },
    y: { label: "↑ decode latency (ms)" },
    marks: [
      Plot.dot(thin(shown, maxPoints), {
        x: "position",
        y: "latencyMs",
        r: 1.5,
        fill: "#888",
        fillOpacity: 0.45,
      }),
      Plot.areaY(data.fit, {
        x: "position",
        y1: "low",
        y2: "high",
        fill: DECODE_COLOR,
        fillOpacity: 0.25,
      }),
      Plot.lineY(data.fit, { x: "position", y: "value", stroke: DECODE_COLOR, strokeWidth: 2 }),
      Plot.rect(windows, {
        x1: (w: WindowMean) => w.first - 0.5,
        x2: (w: WindowMean) => w.last + 0.5,
        y1: "low",
        y2: "high",
        fill: WARMUP_COLOR,
        fillOpacity: 0.3,
      }),
      Plot.ruleY(windows, {
        x1: (w: WindowMean) => w.first - 0.5,
        x2: (w: WindowMean) => w.last + 0.5,
        y: "value",
        stroke: WARMUP_COLOR,
        strokeWidth: 2,
      }),
      ...(windows.length > 0
        ? legend([
          { label: "fit and 95% band", color: DECODE_COLOR },
          { label: "window mean and 95% CI", color: WARMUP_COLOR },
        ])
        : []),
      clipNote(data.points.length - shown.length, top),
    ],
  });
}

/**
 * Draws the latency distribution of each group (e.g. prompt class) as a box plot: box
 * from the first to the third quartile, line at the median, whiskers to 1.5 IQR.
 *
 * @param data One row per token.
 * @param options Size, clipping and axis label.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no rows or an option is out of range.
 * @throws {TypeError} When a latency is not a finite number.
 *
 * @example Compare two prompt classes
 * ```ts
 * import { plotLatencyByGroup } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const rows = Array.from({ length: 60 }, (_, i) => ({
 *   group: i % 2 === 0 ? "simple" : "complex",
 *   latencyMs: 20 + (i % 7) * 0.3,
 * }));
 * assert.match(plotLatencyByGroup(rows), />complex</);
 * ```
 */
export function plotLatencyByGroup(
  data: readonly GroupedLatency[],
  options: PlotLatencyByGroupOptions = {},
): string {
  const { width = 640, height, fence = 3, groupLabel = "prompt class" } = options;
  const what = "latency by group";
  requireRows(what, data.length);
  requireFence(what, fence);
  for (const row of data) requireFinite(what, "latencyMs", row.latencyMs);
  const groups = [...new Set(data.map((row) => row.group))].sort();
  const right = axisTop(data.map((row) => row.latencyMs), fence);
  const shown = data.filter((row) => row.latencyMs <= right);
  return render({
    width,
    height: height ?? 60 + 44 * groups.length,
    marginLeft: labelMargin(groups, 60),
    marginTop: 24,
    x: { label: "decode latency (ms) →", grid: true },
    y: { label: groupLabel, domain: groups },
    marks: [
      Plot.boxX(shown, { x: "latencyMs", y: "group", fill: DECODE_COLOR, fillOpacity: 0.3 }),
      clipNote(data.length - shown.length, right),
    ],
  });
}

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
    width,
    height: height ?? 50 + 30 * data.length,
    marginLeft: labelMargin(data.map((row) => row.label)),
    x: { label: `${valueLabel} →`, grid: true },
    y: { label: null, domain: data.map((row) => row.label) },
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
 * Draws every token's latency over session time on a log scale: warm-up tokens in orange,
 * stalls in red, and the drift trend as a line.
 *
 * @param data Tokens and trend.
 * @param options Size and thinning.
 * @returns A standalone SVG document as a string.
 * @throws {RangeError} When there are no points, a latency is not positive, or an option is out of range.
 * @throws {TypeError} When a value is not a finite number.
 *
 * @example A session with a warm-up and one stall
 * ```ts
 * import { plotTimeline } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const points = Array.from({ length: 50 }, (_, i) => ({
 *   timeS: i * 0.02,
 *   latencyMs: i === 30 ? 400 : 20,
 *   warmup: i < 10,
 *   stall: i === 30,
 * }));
 * const svg = plotTimeline({ points, trend: [{ timeS: 0, latencyMs: 20 }, { timeS: 1, latencyMs: 21 }] });
 * assert.match(svg, /stall/);
 * ```
 */
export function plotTimeline(data: TimelinePlotData, options: PlotTimelineOptions = {}): string {
  const { width = 640, height = 320, maxPoints = 4000, trendLabel = "trend" } = options;
  const what = "session timeline";
  requireRows(what, data.points.length);
  requireMaxPoints(what, maxPoints);
  for (const p of [...data.points, ...data.trend]) {
    requireFinite(what, "timeS", p.timeS);
    requireFinite(what, "latencyMs", p.latencyMs);
    if (p.latencyMs <= 0) {
      throw new RangeError(
        `Cannot plot ${what}: latencyMs must be positive on a log scale, found ${p.latencyMs}`,
      );
    }
  }
  const stalls = data.points.filter((p) => p.stall);
  const rest = data.points.filter((p) => !p.stall);
  const kind = (p: TimelinePoint): string => p.stall ? "stall" : p.warmup ? "warm-up" : "measured";
  return render({
    width,
    height,
    grid: true,
    x: { label: "time in session (s) →" },
    y: { label: "↑ token latency (ms, log scale)", type: "log" },
    marginTop: 30,
    color: { domain: ["measured", "warm-up", "stall"], range: ["#888", WARMUP_COLOR, STALL_COLOR] },
    marks: [
      Plot.dot(thin(rest, Math.max(1, maxPoints - stalls.length)), {
        x: "timeS",
        y: "latencyMs",
        r: 1.5,
        fill: kind,
        fillOpacity: 0.6,
      }),
      Plot.dot(stalls, { x: "timeS", y: "latencyMs", r: 3, fill: kind }),
      Plot.lineY(data.trend, { x: "timeS", y: "latencyMs", stroke: DECODE_COLOR, strokeWidth: 2 }),
      ...legend([
        { label: "measured", color: "#888" },
        { label: "warm-up", color: WARMUP_COLOR },
        { label: "stall", color: STALL_COLOR },
        ...(data.trend.length > 0 ? [{ label: trendLabel, color: DECODE_COLOR }] : []),
      ]),
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
    width,
    height: height ?? 50 + 30 * data.length,
    marginLeft: labelMargin(data.map((row) => row.factor)),
    marginRight: 50,
    x: { label: "share of variance (%) →", domain: [0, 100], grid: true },
    y: { label: null, domain: data.map((row) => row.factor) },
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
    width,
    height: height ?? 70 + 22 * data.length,
    marginLeft: labelMargin(data.map((row) => row.label)),
    x: { label: "tokens/s →", grid: true },
    y: { label: null, domain: data.map((row) => row.label) },
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

/**
 * Draws a note in place of a chart, for a section whose data are missing (e.g. no effect
 * has an interval), so a page keeps its layout and says why.
 *
 * @param message The note, one line.
 * @param options Size.
 * @returns A standalone SVG document as a string.
 *
 * @example A placeholder
 * ```ts
 * import { plotNote } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.match(plotNote("No token-content effect has an interval"), />No token-content effect has an interval</);
 * ```
 */
export function plotNote(message: string, options: ChartOptions = {}): string {
  const { width = 640, height = 60 } = options;
  return render({
    width,
    height,
    axis: null,
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.text([message], { frameAnchor: "middle", fontSize: 13, fill: "#666" }),
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
    width,
    height: height ?? 60 + 30 * data.length,
    marginLeft: labelMargin(data.map((row) => row.label)),
    x: { label: "candidate / baseline →", grid: true },
    y: { label: null, domain: data.map((row) => row.label) },
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
