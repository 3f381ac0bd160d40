/**
 * Ground truth for `testTokenContent()`: size under autocorrelated, heavy-tailed, drifting
 * noise with clustered token content, and power for a 150 µs-per-byte effect, over 200
 * simulated traces per cell.
 */

import assert from "node:assert/strict";
import { testTokenContent } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";
import type { SimulateOptions } from "../../lib/simulate/_options.ts";
import { type Cell, printTable, REALISTIC, SEEDS } from "./_cells.ts";

function rejections(options: SimulateOptions): number {
  let rejected = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const trace = simulatePrepared({ ...REALISTIC, ...options, seed });
    if (testTokenContent(trace, { seed, resamples: 2 }).test.pValue <= 0.05) rejected++;
  }
  return rejected;
}

Deno.test("`testTokenContent()` keeps its size under dependence and has power (200 seeds per cell)", () => {
  const start = performance.now();
  const settings: [string, SimulateOptions][] = [
    ["independent Gaussian noise and content, no drift, stalls 0.2%", {
      innovationDf: Infinity,
      driftAmplitude: 0,
      stallProbability: 0.002,
    }],
    ["AR 0.3, blocks of 8, t(4), drift ±4%, stalls 0.3%", {
      arCoefficient: 0.3,
      contentBlockTokens: 8,
    }],
    ["AR 0.7, blocks of 8, t(4), drift ±4%, stalls 0.3%", {
      arCoefficient: 0.7,
      contentBlockTokens: 8,
    }],
  ];
  const cells: Cell[] = [];
  for (const [setting, options] of settings) {
    cells.push({ measure: "size", setting, seeds: SEEDS, hits: rejections(options) });
  }
  for (const [setting, options] of settings.slice(1)) {
    cells.push({
      measure: "power, 150 µs/byte",
      setting,
      seeds: SEEDS,
      hits: rejections({ ...options, tokenContentUsPerByte: 150 }),
    });
  }
  printTable("testTokenContent() at alpha 0.05", cells, (performance.now() - start) / 1000);
  for (const c of cells) {
    if (c.measure === "size") {
      assert.ok(c.hits <= 12, `size ${c.hits}/${c.seeds} above 6% (${c.setting})`);
    } else assert.ok(c.hits >= 190, `power ${c.hits}/${c.seeds} below 95% (${c.setting})`);
  }
});
