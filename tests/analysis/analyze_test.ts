import assert from "node:assert/strict";
import type pl from "nodejs-polars";
import {
  analyzeTrace,
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
    "percentile cluster bootstrap over 40 runs, 100 resamples, seed 1",
  );
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
    "windows",
    "depth",
    "variance",
    "prompt-class",
    "token-content",
    "run-story",
    "original-table",
    "stalls",
    "warmup",
    "drift",
  ]);
  for (const f of findings.filter((f) => f.id !== "original-table")) {
    assert.match(f.sentence, /95% CI|\(F = /, f.id);
  }
  assert.match(
    findings[0]!.sentence,
    /^Decode latency (rises|falls|changes) -?\d+\.\d+ µs per context token \(95% CI .* 100 resamples, seed 1\)/,
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
