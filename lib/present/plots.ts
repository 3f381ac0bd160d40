/**
 * Chart helpers: each takes plain rows and options and returns a standalone SVG string
 * drawn by Observable Plot on a linkedom document (no browser needed). The strings show
 * inline in HTML, in Jupyter (`Deno.jupyter.svg`) or as `.svg` files. This file holds what
 * every chart shares ({@linkcode ChartOptions}) and the placeholder {@linkcode plotNote};
 * the charts themselves are in `plots_latency.ts` (per-token latency) and `plots_rows.ts`
 * (one row per label: effects, variance shares, run rates, comparison ratios).
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { render } from "./_plot_kit.ts";

/** Layout options shared by every chart. */
export interface ChartOptions {
  /** Width of the chart in pixels. @default 640 */
  width?: number;
  /** Height of the chart in pixels; each chart picks a height that suits its rows. */
  height?: number;
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
