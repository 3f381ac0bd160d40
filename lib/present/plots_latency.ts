/**
 * Charts of per-token latency: against position with the fitted slowdown curve
 * ({@linkcode plotSlowdown}), by group as box plots ({@linkcode plotLatencyByGroup}) and
 * over session time with warm-up, stalls and a trend ({@linkcode plotTimeline}).
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import type { ChartOptions } from "./plots.ts";
import {
  axisTop,
  clipNote,
  DECODE_COLOR,
  labelMargin,
  legend,
  render,
  requireFence,
  requireFinite,
  requireMaxPoints,
  requireRows,
  STALL_COLOR,
  thin,
  WARMUP_COLOR,
} from "./_plot_kit.ts";

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
