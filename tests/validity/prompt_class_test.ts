/**
 * Ground truth for `testPromptClass()`: size under autocorrelated, heavy-tailed, drifting
 * noise with clustered token content, and power for class offsets of 200 µs and 1000 µs.
 */

import assert from "node:assert/strict";
import { testPromptClass } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";
import type { SimulateOptions } from "../../lib/simulate/_options.ts";
import { type Cell, printTable, REALISTIC, SEEDS } from "./_cells.ts";

/** Seeds of the size cells: 200 as every cell, and 1000 for the size bound (see below). */
const SIZE_SEEDS = 1000;

function run(options: SimulateOptions, seeds: number, truthUs: number): Cell[] {
  let rejected200 = 0, rejected = 0, covered = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const trace = simulatePrepared({ ...REALISTIC, contentBlockTokens: 8, ...options, seed });
    const r = testPromptClass(trace, { seed, permutations: 199, resamples: 200 });
    const hit = r.test!.pValue <= 0.05 ? 1 : 0;
    rejected += hit;
    if (seed <= SEEDS) {
      rejected200 += hit;
      const e = r.effects[0]!.effectUs;
      if (e.low <= truthUs && truthUs <= e.high) covered++;
    }
  }
  const setting = `AR ${options.arCoefficient}, class offset ${truthUs} µs`;
  const measure = truthUs === 0 ? "size" : `power, ${truthUs} µs`;
  const cells: Cell[] = [{ measure, setting, seeds: SEEDS, hits: rejected200 }];
  if (seeds > SEEDS) cells.push({ measure, setting, seeds, hits: rejected });
  cells.push({ measure: "95% interval coverage", setting, seeds: SEEDS, hits: covered });
  return cells;
}

Deno.test("`testPromptClass()` keeps its size and coverage under realistic noise and reports its power", () => {
  const start = performance.now();
  const cells: Cell[] = [];
  for (const arCoefficient of [0.3, 0.7]) {
    cells.push(...run({ arCoefficient, classOffsetsUs: {} }, SIZE_SEEDS, 0));
    for (const offset of [200, 1000]) {
      cells.push(...run({ arCoefficient, classOffsetsUs: { complex: offset } }, SEEDS, offset));
    }
  }
  printTable(
    "testPromptClass() at alpha 0.05 (blocks of 8, t(4), drift ±4%, stalls 0.3%, 44 runs)",
    cells,
    (performance.now() - start) / 1000,
  );
  // The label shuffle within strata is exact when runs are exchangeable (a randomised run
  // order makes them so), so its size is 5% up to the discreteness of 199 permutations. With
  // 200 seeds a count's sd is 3 (1.5 points): an exact 5% test exceeds 12/200 in about 1 of 5
  // seed ranges, so the 6% bound is checked on 1000 seeds (sd 0.7 points).
  for (const c of cells.filter((c) => c.measure === "size" && c.seeds === SIZE_SEEDS)) {
    assert.ok(c.hits <= 60, `size ${c.hits}/${c.seeds} above 6% (${c.setting})`);
  }
  // a 95% interval covers in 181-197 of 200 seeds with probability 99%
  for (const c of cells.filter((c) => c.measure === "95% interval coverage")) {
    assert.ok(c.hits >= 181 && c.hits <= 197, `coverage ${c.hits}/${c.seeds} (${c.setting})`);
  }
  // Run-level sd here is about 0.73 ms (run intercept 0.3, AR(0.7) mean of 49 tokens 0.34,
  // drift between runs 0.57), so a 1000 µs offset between 22 and 22 runs is 4.5 standard
  // errors: power about 99.8% (and 17% at 200 µs). 95% leaves room for sampling.
  for (const c of cells.filter((c) => c.measure === "power, 1000 µs")) {
    assert.ok(c.hits >= 190, `power ${c.hits}/${c.seeds} below 95% (${c.setting})`);
  }
});
