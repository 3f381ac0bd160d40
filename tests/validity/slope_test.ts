// Ground truth for the within-run slope interval: 200 seeded traces per cell with the noise
// real traces show (Student-t(4) innovations, AR(1) 0.3, stalls at 0.3%, session drift of
// ±4% over a 40-80 s period), about 45 runs of 30-50 decode tokens, with and without a
// depth sweep. The CR2 / Bell-McCaffrey interval must cover the injected slope in 93-97% of
// traces. The table printed also shows the percentile cluster bootstrap it replaced and the
// drift-corrected position cost, for comparison (not asserted).
import assert from "node:assert/strict";
import { fitSlowdown, type SimulatedPrompt, type SimulateOptions } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";
import { slopeStats } from "../../lib/analysis/_runstats.ts";
import { resampleCounts, Rng } from "../../lib/stats/rng.ts";
import { percentileInterval } from "../../lib/stats/stats.ts";

const SEEDS = 200;
const SLOPE = 5;

// 4 prompts of 31-51 tokens: 30-50 decode tokens per run
const PROMPTS: SimulatedPrompt[] = [
  { id: "s1", class: "simple", promptTokens: 24, maxTokens: 31 },
  { id: "c1", class: "complex", promptTokens: 24, maxTokens: 38 },
  { id: "s2", class: "simple", promptTokens: 40, maxTokens: 45 },
  { id: "c2", class: "complex", promptTokens: 40, maxTokens: 51 },
];

interface Cell {
  name: string;
  plan: SimulateOptions;
}

const REALISTIC: SimulateOptions = {
  prompts: PROMPTS,
  slopeUsPerToken: SLOPE,
  innovationDf: 4,
  arCoefficient: 0.3,
  stallProbability: 0.003,
  driftAmplitude: 0.04,
};

const SWEEP = { repetitions: 4, depths: [0, 1024, 2048] };
const CELLS: Cell[] = [
  { name: "t(4), AR 0.3, stalls 0.3%, drift ±4%", plan: { ...REALISTIC, repetitions: 11 } },
  { name: "same + depth sweep 0/1024/2048", plan: { ...REALISTIC, ...SWEEP } },
  {
    name: "t(4), AR 0.3, stalls 0.3%, no drift",
    plan: { ...REALISTIC, driftAmplitude: 0, repetitions: 11 },
  },
  {
    name: "same + depth sweep 0/1024/2048",
    plan: { ...REALISTIC, driftAmplitude: 0, ...SWEEP },
  },
];

/** Percentile cluster bootstrap interval of the within-run slope (the method replaced). */
function percentileSlope(trace: ReturnType<typeof simulatePrepared>, seed: number): number[] {
  const s = slopeStats(trace, true);
  const units: number[] = [];
  for (let i = 0; i < trace.runs.count; i++) {
    if (trace.runs.warmup[i] === 0 && s.n[i]! > 0) units.push(i);
  }
  const wxx = units.map((i) => s.sxx[i]! - (s.sx[i]! * s.sx[i]!) / s.n[i]!);
  const wxy = units.map((i) => s.sxy[i]! - (s.sx[i]! * s.sy[i]!) / s.n[i]!);
  const rng = new Rng(seed);
  const counts = new Float64Array(units.length);
  const reps = new Float64Array(1000);
  for (let r = 0; r < reps.length; r++) {
    resampleCounts(rng, counts);
    let a = 0, b = 0;
    for (let u = 0; u < units.length; u++) {
      a += counts[u]! * wxx[u]!;
      b += counts[u]! * wxy[u]!;
    }
    reps[r] = (b / a) * 1000;
  }
  return percentileInterval(reps);
}

Deno.test("`fitSlowdown()` slope interval covers the injected slope in 93-97% of realistic traces", () => {
  const started = performance.now();
  const rows: string[] = [];
  const failures: string[] = [];
  for (const cell of CELLS) {
    let cr2 = 0, pct = 0, position = 0, explainable = 0, runs = 0, tokens = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const driftPeriodS = 40 + 40 * new Rng(seed * 7919).uniform();
      const trace = simulatePrepared({ ...cell.plan, seed, driftPeriodS });
      const fit = fitSlowdown(trace, { seed, resamples: 1 });
      const b = fit.slopeUsPerToken;
      if (b.low <= SLOPE && SLOPE <= b.high) cr2++;
      const [lo, hi] = percentileSlope(trace, seed);
      if (lo! <= SLOPE && SLOPE <= hi!) pct++;
      const p = fit.drift.positionUsPerToken;
      if (p.low <= SLOPE && SLOPE <= p.high) position++;
      if (fit.drift.canExplainSlope) explainable++;
      runs += fit.runs;
      tokens += fit.tokens;
    }
    const share = (k: number): string => `${((100 * k) / SEEDS).toFixed(1)}%`;
    rows.push(
      `| ${cell.name} | ${(runs / SEEDS).toFixed(0)} | ${(tokens / runs).toFixed(1)} | ${SEEDS} | ${
        share(cr2)
      } | ${share(pct)} | ${share(position)} | ${share(explainable)} |`,
    );
    if (cr2 < 0.93 * SEEDS || cr2 > 0.97 * SEEDS) {
      failures.push(`${cell.name}: CR2 covered ${cr2} of ${SEEDS}`);
    }
  }
  console.log(
    [
      "",
      "| cell | runs | tokens/run | seeds | CR2 (BM df) | percentile bootstrap | position (drift-corrected) | drift can explain slope |",
      "|---|---|---|---|---|---|---|---|",
      ...rows,
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
    ].join("\n"),
  );
  assert.deepEqual(failures, []);
});
