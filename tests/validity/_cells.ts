/**
 * Shared settings of the ground-truth (validity) tests: realistic simulated noise and a table
 * printer, so CI logs show every measured rate.
 *
 * @module
 */

import type { SimulateOptions } from "../../lib/simulate/_options.ts";

/** Seeds per cell. */
export const SEEDS = 200;

/**
 * Realistic noise shared by every cell: 44 measured runs of 49 decode tokens, Student-t(4)
 * innovations, stalls at 0.3% and session drift of ±4% over 60 s. Cells add the AR(1)
 * coefficient and content clustering.
 */
export const REALISTIC: SimulateOptions = {
  repetitions: 11,
  innovationDf: 4,
  stallProbability: 0.003,
  driftAmplitude: 0.04,
  driftPeriodS: 60,
};

/** One measured cell. */
export interface Cell {
  /** What the cell measures (size, power, coverage). */
  measure: string;
  /** The simulated setting. */
  setting: string;
  /** Seeds run. */
  seeds: number;
  /** Seeds where the event (rejection, coverage) happened. */
  hits: number;
}

/** Prints cells as a markdown table (the CI log keeps it). */
export function printTable(title: string, cells: readonly Cell[], seconds: number): void {
  const lines = [
    `\n${title} (${seconds.toFixed(1)} s)`,
    "| measure | setting | seeds | count | rate | 95% CI (Wilson) |",
    "| --- | --- | ---: | ---: | ---: | --- |",
    ...cells.map((c) => {
      const [lo, hi] = wilson(c.hits, c.seeds);
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
      return `| ${c.measure} | ${c.setting} | ${c.seeds} | ${c.hits} | ${pct(c.hits / c.seeds)} | ${
        pct(lo)
      } to ${pct(hi)} |`;
    }),
  ];
  console.log(lines.join("\n"));
}

function wilson(k: number, n: number): [number, number] {
  const z = 1.959964;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [c - h, c + h];
}
