// Ground truth for compareSessions(): simulated A/B pairs with known speed ratios and realistic
// noise (AR(1) token noise, heavy-tailed innovations, stalls, slow sinusoidal drift, run-level
// intercepts). Checks interval coverage, false verdicts when nothing changed, and power.

import assert from "node:assert/strict";
import {
  COMPARE_METRICS,
  type CompareMetric,
  compareSessions,
  type CompareVerdict,
  simulateTrace,
} from "../../mod.ts";

/**
 * Pairs per cell (TOKENTRACE_COMPARE_PAIRS overrides). 100, not the issue's 200: 100 take about
 * 25 s; runs of 200 hit long CPU-bound pauses (40-60 s at single pairs) not yet explained.
 */
const PAIRS = Number(Deno.env.get("TOKENTRACE_COMPARE_PAIRS") ?? 100);
/** True speed-ups of the candidate (decode rate ratio - 1). */
const CHANGES = [0, 0.01, 0.03, 0.1];

/** The realistic noise of both sides (the candidate adds latencyScale). */
const NOISE = {
  repetitions: 5,
  warmupRuns: 1,
  runSdMs: 0.6,
  noiseSdMs: 1.5,
  arCoefficient: 0.3,
  innovationDf: 4,
  stallProbability: 0.003,
  driftAmplitude: 0.01,
  // shorter than a session (~22 s): drift slower than a whole session cannot be told from a
  // real change by any within-session method, so the ground truth keeps it within sessions
  driftPeriodS: 6,
  contentBlockTokens: 4,
} as const;

/** True candidate/baseline ratio of each metric for a speed-up `r` (every latency scaled by 1 / (1 + r)). */
function truth(metric: CompareMetric, r: number): number {
  const higherIsFaster = metric.endsWith("TokensPerS");
  return higherIsFaster ? 1 + r : 1 / (1 + r);
}

Deno.test("compareSessions() covers known ratios at 93-97%, rarely calls a null faster or slower, and finds a 10% change", () => {
  const started = performance.now();
  const rows: string[][] = [];
  const covered: Record<string, number> = {};
  let total = 0;
  const verdicts: Record<number, Record<CompareVerdict, number>> = {};
  for (const r of CHANGES) verdicts[r] = { faster: 0, slower: 0, "no change": 0, inconclusive: 0 };
  const cover: Record<number, Record<string, number>> = Object.fromEntries(
    CHANGES.map((r) => [r, {}]),
  );
  // pair k: one baseline, compared with a candidate of its own seed at every change (cells
  // share baselines, so a pair index costs 1 + 4 simulations, not 8)
  for (let k = 0; k < PAIRS; k++) {
    const seed = 1000 + 10 * k;
    const baseline = simulateTrace({ ...NOISE, seed });
    for (const [ci, r] of CHANGES.entries()) {
      const candidate = simulateTrace({
        ...NOISE,
        seed: seed + 1 + ci,
        latencyScale: 1 / (1 + r),
      });
      const result = compareSessions(baseline, candidate);
      for (const m of COMPARE_METRICS) {
        const { low, high } = result.metrics[m].ratio;
        const t = truth(m, r);
        if (low <= t && t <= high) {
          cover[r]![m] = (cover[r]![m] ?? 0) + 1;
          covered[m] = (covered[m] ?? 0) + 1;
        }
      }
      verdicts[r]![result.metrics.decodeTokensPerS.verdict]!++;
    }
    total += CHANGES.length;
  }
  for (const r of CHANGES) {
    const v = verdicts[r]!;
    rows.push([
      `${(r * 100).toFixed(0)}%`,
      String(PAIRS),
      ...COMPARE_METRICS.map((m) => `${((100 * (cover[r]![m] ?? 0)) / PAIRS).toFixed(1)}`),
      `${((100 * (v.faster + v.slower)) / PAIRS).toFixed(1)}`,
      `${((100 * v.faster) / PAIRS).toFixed(1)}`,
    ]);
  }
  const seconds = (performance.now() - started) / 1000;
  const header = [
    "change",
    "pairs",
    ...COMPARE_METRICS.map((m) => `cover ${m}`),
    "faster|slower %",
    "faster %",
  ];
  console.log(`\n| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  console.log(
    `pooled coverage over ${total} pairs: ${
      COMPARE_METRICS.map((m) => `${m} ${((100 * (covered[m] ?? 0)) / total).toFixed(1)}%`).join(
        ", ",
      )
    }; ${seconds.toFixed(1)} s`,
  );

  // coverage: pooled over the four cells (4 x PAIRS pairs), every metric
  for (const m of COMPARE_METRICS) {
    const pct = (100 * (covered[m] ?? 0)) / total;
    assert.ok(pct >= 93 && pct <= 97, `coverage of ${m} is ${pct.toFixed(1)}%, not within 93-97%`);
  }
  // false faster/slower verdicts when nothing changed
  const nullVerdicts = verdicts[0]!;
  const falseRate = (nullVerdicts.faster + nullVerdicts.slower) / PAIRS;
  assert.ok(
    falseRate <= 0.05,
    `false faster/slower rate at 0% is ${(falseRate * 100).toFixed(1)}%`,
  );
  // power: a 10% speed-up is called faster
  const power = verdicts[0.1]!.faster / PAIRS;
  assert.ok(power >= 0.95, `a 10% change was found in ${(power * 100).toFixed(1)}% of pairs`);
  // a slower verdict never comes from a faster candidate
  assert.equal(verdicts[0.03]!.slower + verdicts[0.1]!.slower, 0);
});
