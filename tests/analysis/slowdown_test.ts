import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { fitSlowdown, simulateTrace } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

const PROMPTS = [
  { id: "s1", class: "simple", promptTokens: 24, maxTokens: 20 },
  { id: "c1", class: "complex", promptTokens: 24, maxTokens: 20 },
  { id: "s2", class: "simple", promptTokens: 40, maxTokens: 20 },
  { id: "c2", class: "complex", promptTokens: 40, maxTokens: 20 },
];

Deno.test("`fitSlowdown()` recovers an injected slope inside its interval", () => {
  const fit = fitSlowdown(simulateTrace({ seed: 1, slopeUsPerToken: 40 }), { resamples: 500 });
  const b = fit.slopeUsPerToken;
  assert.ok(b.low < 40 && 40 < b.high, JSON.stringify(b));
  assert.ok(b.high - b.low < 40, "the interval is informative");
  assert.match(b.method, /^CR2 cluster-robust t interval over 20 runs, Bell-McCaffrey df 19\.0$/);
  assert.equal(fit.runs, 20);
  assert.equal(fit.tokens + fit.stallsExcluded, 20 * 49);
});

Deno.test("`fitSlowdown()` interval covers the injected slope in about 95% of 200 seeds", () => {
  // 64 runs of 20 tokens with stalls, run intercepts and noise (heavier cells:
  // tests/validity/slope_test.ts)
  let covered = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const trace = simulatePrepared({
      seed,
      prompts: PROMPTS,
      repetitions: 16,
      slopeUsPerToken: 50,
    });
    const b = fitSlowdown(trace, { seed, resamples: 1 }).slopeUsPerToken;
    if (b.low <= 50 && 50 <= b.high) covered++;
  }
  // binomial(200, 0.95) has sd 3.1
  assert.ok(covered >= 182 && covered <= 198, `covered ${covered} of 200`);
});

Deno.test("`fitSlowdown()` judges the 1-2% per 10 tokens claim", () => {
  // 30 µs per token on a 20 ms base is 1.5% per 10 tokens
  const consistent = fitSlowdown(simulatePrepared({ slopeUsPerToken: 30, noiseSdMs: 0.3 }), {
    resamples: 300,
  });
  assert.equal(consistent.claim.verdict, "consistent");
  assert.ok(
    Math.abs(consistent.slowdownPctPer10.value - 1.5) < 0.3,
    JSON.stringify(consistent.slowdownPctPer10),
  );
  const flat = fitSlowdown(simulatePrepared({ slopeUsPerToken: 0, noiseSdMs: 0.3 }), {
    resamples: 300,
  });
  assert.equal(flat.claim.verdict, "overstated");
  const steep = fitSlowdown(simulatePrepared({ slopeUsPerToken: 100, noiseSdMs: 0.3 }), {
    resamples: 300,
  });
  assert.equal(steep.claim.verdict, "understated");
});

Deno.test("`fitSlowdown()` reports the original three windows", () => {
  // 100 µs per token: tokens 41-50 sit 40 positions after tokens 1-10, 4 ms slower
  const fit = fitSlowdown(
    simulatePrepared({ slopeUsPerToken: 100, noiseSdMs: 0.3, stallProbability: 0 }),
    {
      resamples: 200,
    },
  );
  // 20 runs of 49 decode tokens: the last window holds tokens 41-49
  assert.deepEqual(fit.windows.map((w) => [w.firstToken, w.lastToken, w.tokens]), [
    [1, 10, 200],
    [11, 40, 600],
    [41, 50, 180],
  ]);
  const [first, , last] = fit.windows;
  assert.ok(Math.abs(last!.meanLatencyMs.value - first!.meanLatencyMs.value - 3.95) < 0.2);
  assert.ok(Math.abs(first!.tokensPerS.value - 1000 / first!.meanLatencyMs.value) < 1e-9);
  assert.equal(fit.curve.height, 49);
  assert.deepEqual(fit.curve.columns, ["token_index", "tokens", "mean_latency_ms", "fitted_ms"]);
});

Deno.test("`fitSlowdown()` tests the linearity of a depth sweep", () => {
  const depths = [0, 1000, 2000, 3000, 4000];
  const linear = simulateTrace({ seed: 2, depths, repetitions: 3, slopeUsPerToken: 5 });
  const straight = fitSlowdown(linear, { resamples: 100 }).depthSweep!;
  assert.equal(straight.depths, 5);
  assert.ok(straight.slopeUsPerToken.low < 5 && 5 < straight.slopeUsPerToken.high);
  assert.ok(straight.linearity.pValue > 0.05, JSON.stringify(straight.linearity));
  // add a quadratic term: 0.5 ms per (1000 tokens)^2
  const curved = {
    ...linear,
    tokens: (linear.tokens as pl.DataFrame).withColumns(
      pl.col("latency_ms").add(pl.col("position").cast(pl.Float64).div(1000).pow(2).mul(0.5)).alias(
        "latency_ms",
      ),
    ),
  };
  const bent = fitSlowdown(curved, { resamples: 100 }).depthSweep!;
  assert.ok(bent.linearity.pValue < 0.001, JSON.stringify(bent.linearity));
  assert.equal(bent.curve.height, 5);
  assert.equal(fitSlowdown(simulatePrepared(), { resamples: 10 }).depthSweep, null);
});

Deno.test("`fitSlowdown()` leaves stalls out of the fit by default", () => {
  const trace = simulatePrepared({
    seed: 9,
    stallProbability: 0.02,
    stallMs: 500,
    slopeUsPerToken: 20,
  });
  const robust = fitSlowdown(trace, { resamples: 300 });
  const raw = fitSlowdown(trace, { resamples: 300, excludeStalls: false });
  assert.ok(robust.stallsExcluded > 5);
  assert.equal(raw.stallsExcluded, 0);
  assert.ok(robust.slopeUsPerToken.low < 20 && 20 < robust.slopeUsPerToken.high);
  const width = (e: { low: number; high: number }): number => e.high - e.low;
  assert.ok(width(raw.slopeUsPerToken) > 3 * width(robust.slopeUsPerToken));
});

Deno.test("`fitSlowdown()` rejects zero resamples and a trace without decode tokens", () => {
  assert.throws(
    () => fitSlowdown(simulatePrepared(), { resamples: 0 }),
    new RangeError("Cannot fit the slowdown curve: resamples must be an integer >= 1, found 0"),
  );
  const onlyWarmup = simulatePrepared({
    prompts: [{ id: "x", class: "simple", promptTokens: 8, maxTokens: 1 }],
  });
  assert.throws(
    () => fitSlowdown(onlyWarmup),
    new RangeError(
      "Cannot fit the slowdown curve: the trace must have a non-warm-up run with decode tokens, found none",
    ),
  );
});

Deno.test("`fitSlowdown()` splits the within-run slope into position cost and drift", () => {
  // no position cost, a slow ±20% drift over 300 s: the within-run slope is all drift
  const drifting = fitSlowdown(
    simulatePrepared({
      seed: 1,
      slopeUsPerToken: 0,
      driftAmplitude: 0.2,
      driftPeriodS: 300,
      repetitions: 12,
      noiseSdMs: 0.2,
      stallProbability: 0,
    }),
    { resamples: 10 },
  );
  const b = drifting.slopeUsPerToken;
  const d = drifting.drift;
  assert.ok(b.low > 0, `a drift-made slope ${JSON.stringify(b)}`);
  assert.ok(d.explainedUsPerToken.low < b.value && b.value < d.explainedUsPerToken.high);
  assert.ok(d.positionUsPerToken.low < 0 && 0 < d.positionUsPerToken.high);
  assert.equal(d.canExplainSlope, true);
  assert.equal(drifting.claim.driftCanExplainSlope, true);
  assert.match(d.rateMsPerS.method, /one intercept per session, prompt and depth \(48 runs\)/);
  // a real position cost and no drift: drift cannot explain it
  const steady = fitSlowdown(simulatePrepared({ seed: 5, slopeUsPerToken: 30 }), {
    resamples: 10,
  });
  assert.equal(steady.drift.canExplainSlope, false);
  assert.ok(steady.drift.positionUsPerToken.low < 30 && 30 < steady.drift.positionUsPerToken.high);
});
