import { testTokenContent } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";
const cells: [string, Record<string, number>][] = [
  ["iid", {}],
  ["AR0.3+blk8+t4", { arCoefficient: 0.3, contentBlockTokens: 8, innovationDf: 4 }],
  ["AR0.7+blk8+t4", { arCoefficient: 0.7, contentBlockTokens: 8, innovationDf: 4 }],
  ["AR0.7+blk8+t4 eff150", { arCoefficient: 0.7, contentBlockTokens: 8, innovationDf: 4, tokenContentUsPerByte: 150 }],
];
const seeds = Number(Deno.args[0] ?? 100);
for (const [name, o] of cells) {
  const t0 = performance.now();
  let rej = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const trace = simulatePrepared({ seed, repetitions: 11, stallProbability: 0.003, driftAmplitude: 0.04, ...o });
    const r = testTokenContent(trace, { seed, permutations: 199, resamples: 2 });
    if (r.test.pValue <= 0.05) rej++;
  }
  console.log(name, rej, "/", seeds, ((performance.now() - t0) / 1000).toFixed(1) + "s");
}
