import assert from "node:assert/strict";
import type pl from "nodejs-polars";
import {
  analyzeTrace,
  decodeAutocorrelation,
  describeFindings,
  formatEstimate,
  formatNumber,
  simulateTrace,
} from "../../mod.ts";

const FAST = {
  slowdown: { resamples: 100 },
  variance: { resamples: 20 },
  promptClass: { permutations: 99, resamples: 100 },
  tokenContent: { permutations: 19, resamples: 20 },
  stalls: { resamples: 100 },
  autocorrelation: { resamples: 100 },
};

Deno.test("`analyzeTrace()` runs every section on a lazily read trace", () => {
  const trace = simulateTrace({ seed: 2, depths: [0, 300] });
  const lazy = {
    sessions: (trace.sessions as pl.DataFrame).lazy(),
    runs: (trace.runs as pl.DataFrame).lazy(),
    tokens: (trace.tokens as pl.DataFrame).lazy(),
  };
  const geometry = { kvHeadsPerLayer: [8, 8], headDim: 64, kvBytesPerElement: 2 };
  const a = analyzeTrace(lazy, { ...FAST, physics: { bandwidthGBps: 20, geometry } });
  assert.equal(a.sessions, 1);
  assert.equal(a.runs, 41);
  assert.equal(a.warmupRuns, 1);
  assert.equal(a.tokens, 41 * 49);
  assert.deepEqual(a.classes, ["complex", "simple"]);
  assert.notEqual(a.physics, null);
  assert.notEqual(a.warmup, null);
  assert.notEqual(a.runStory, null);
  assert.deepEqual(a.notes, []);
  assert.equal(
    a.slowdown.slopeUsPerToken.method,
    "CR2 cluster-robust t interval over 40 runs, Bell-McCaffrey df 39.0",
  );
  // independent simulated noise: no dependence, demeaning biases lag 1 slightly negative
  const ac = a.autocorrelation!;
  assert.equal(ac.runs, 40);
  assert.ok(ac.lag1.low < 0 && ac.lag1.high < 0.1, JSON.stringify(ac.lag1));
  assert.match(ac.lag1.method, /^percentile cluster bootstrap over 40 runs, 100 resamples/);
});

Deno.test("`analyzeTrace()` notes the sections it skips", () => {
  const a = analyzeTrace(simulateTrace({ seed: 3, repetitions: 1 }), FAST);
  assert.equal(a.physics, null);
  assert.deepEqual(a.notes, ["physics: skipped, no bandwidth and geometry given"]);
});

Deno.test("`describeFindings()` gives every finding its number, interval and method", () => {
  const a = analyzeTrace(simulateTrace({ seed: 2, depths: [0, 300] }), FAST);
  const findings = describeFindings(a);
  assert.deepEqual(findings.map((f) => f.id), [
    "slope",
    "slowdown",
    "position-vs-drift",
    "windows",
    "depth",
    "variance",
    "prompt-class",
    "token-content",
    "run-story",
    "original-table",
    "stalls",
    "autocorrelation",
    "warmup",
    "drift",
  ]);
  for (const f of findings.filter((f) => f.id !== "original-table")) {
    assert.match(f.sentence, /95% CI|\(F = /, f.id);
  }
  assert.match(
    findings[0]!.sentence,
    /^Decode latency (rises|falls|changes) -?\d+\.\d+ µs per context token \(95% CI .*, CR2 cluster-robust t interval over 40 runs, Bell-McCaffrey df 39\.0\)/,
  );
});

Deno.test("`decodeAutocorrelation()` recovers AR(1) dependence inside its interval", () => {
  // AR(1) 0.5 within runs of 49 tokens: pooled lag 1 about 0.5 - bias of about 1/49
  const a = analyzeTrace(
    simulateTrace({ seed: 4, arCoefficient: 0.5, repetitions: 10, runSdMs: 0 }),
    FAST,
  ).autocorrelation!;
  assert.ok(a.lag1.low < 0.5 && 0.42 < a.lag1.high, JSON.stringify(a.lag1));
  assert.ok(a.lag2.value > 0.15 && a.lag2.value < 0.35, JSON.stringify(a.lag2));
  assert.ok(a.perRunLag1Median > 0.3);
});

Deno.test("`decodeAutocorrelation()` rejects bad resamples and runs too short to correlate", () => {
  assert.throws(
    () => decodeAutocorrelation(simulateTrace(), { resamples: 0 }),
    new RangeError(
      "Cannot measure autocorrelation: resamples must be an integer >= 1, found 0",
    ),
  );
  const short = simulateTrace({
    prompts: [{ id: "x", class: "simple", promptTokens: 8, maxTokens: 3 }],
  });
  assert.throws(
    () => decodeAutocorrelation(short),
    new RangeError(
      "Cannot measure autocorrelation: the trace must have a run with at least 3 decode tokens, found none",
    ),
  );
});

Deno.test("`formatEstimate()` and `formatNumber()` keep a readable precision", () => {
  assert.equal(formatNumber(0.000123), "0.000123");
  assert.equal(formatNumber(-0.0001, 2), "0.00");
  assert.equal(formatNumber(Number.NaN), "n/a");
  assert.equal(
    formatEstimate({ value: -3.2, low: -5.1, high: -1.3, unit: "ms", method: "t interval" }),
    "-3.20 ms (95% CI -5.10 to -1.30, t interval)",
  );
  assert.equal(
    formatEstimate({
      value: 1.5,
      low: 1.1,
      high: 1.9,
      unit: "% per 10 context tokens",
      method: "m",
    }),
    "1.50% per 10 context tokens (95% CI 1.10–1.90, m)",
  );
});
