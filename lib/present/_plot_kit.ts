/**
 * The machinery every chart shares: rendering an Observable Plot spec to a standalone SVG
 * string on a linkedom document, the input checks with their error messages, the latency
 * axis, point thinning, the inline legend and the colours. Private to `lib/present`.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

const SVG_NS = "http://www.w3.org/2000/svg";
export const E2E_COLOR = "#e15759";
export const DECODE_COLOR = "#4e79a7";
export const WARMUP_COLOR = "#f28e2b";
export const STALL_COLOR = "#d62728";

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
export function render(options: Plot.PlotOptions): string {
  const chart = Plot.plot({ ...options, document: plotDocument() });
  chart.setAttribute("xmlns", SVG_NS);
  // Plot writes coordinates with 15 digits; two decimals are sub-pixel and keep files small.
  return chart.outerHTML.replace(
    /="([^"]*)"/g,
    (_: string, value: string) => `="${value.replace(/(\d+\.\d\d)\d+/g, "$1")}"`,
  );
}

export function requireRows(what: string, count: number): void {
  if (count === 0) throw new RangeError(`Cannot plot ${what}: expected at least one row, found 0`);
}

export function requireFinite(what: string, field: string, value: number): void {
  if (!Number.isFinite(value)) {
    throw new TypeError(`Cannot plot ${what}: ${field} must be a finite number, found ${value}`);
  }
}

export function requireFence(what: string, fence: number): void {
  if (!(fence >= 0 && Number.isFinite(fence))) {
    throw new RangeError(`Cannot plot ${what}: fence must be a finite number >= 0, found ${fence}`);
  }
}

export function requireMaxPoints(what: string, n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`Cannot plot ${what}: maxPoints must be a positive integer, found ${n}`);
  }
}

/** Type-7 quantile of sorted values. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a + (h - lo) * (b - a);
}

/** Axis end for latencies: Tukey's upper fence Q3 + fence × IQR, plus 5% headroom. */
export function axisTop(values: readonly number[], fence: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  return Math.min(q3 + fence * (q3 - q1), sorted[sorted.length - 1]!) * 1.05;
}

export function thin<T>(rows: readonly T[], max: number): readonly T[] {
  if (rows.length <= max) return rows;
  const stride = rows.length / max;
  return Array.from({ length: max }, (_, i) => rows[Math.floor(i * stride)]!);
}

/** Left margin that fits the longest label of a categorical axis (10 px sans-serif). */
export function labelMargin(labels: readonly string[], min = 40): number {
  return Math.max(min, Math.min(360, 14 + 6 * Math.max(0, ...labels.map((l) => l.length))));
}

/** An inline legend at the top right (Plot's own legend wraps the SVG in HTML). */
export function legend(items: readonly { label: string; color: string }[]): Plot.Markish[] {
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

export function clipNote(count: number, top: number): Plot.Markish {
  return count === 0
    ? null
    : Plot.text([`${count} slower tokens above ${top.toFixed(1)} ms not shown`], {
      frameAnchor: "top-right",
      dy: -2,
      fontSize: 10,
      fill: "#666",
    });
}

/** The size, left margin and row scale of a chart with one row per label, top to bottom. */
export function rowLayout(
  labels: readonly string[],
  size: { width: number; height: number | undefined; base: number; perRow: number },
): Pick<Plot.PlotOptions, "width" | "height" | "marginLeft" | "y"> {
  const { width, height, base, perRow } = size;
  return {
    width,
    height: height ?? base + perRow * labels.length,
    marginLeft: labelMargin(labels),
    y: { label: null, domain: labels },
  };
}
