import assert from "node:assert/strict";
import { testTokenContent } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

const PROMPTS = [
  { id: "s1", class: "simple", promptTokens: 24, maxTokens: 20 },
  { id: "c1", class: "complex", promptTokens: 24, maxTokens: 20 },
];

Deno.test("`testTokenContent()` rejects no more often than the nominal 5% when content has no effect", () => {
  let rejected = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const trace = simulatePrepared({ seed, prompts: PROMPTS, repetitions: 8 });
    const r = testTokenContent(trace, { seed, permutations: 99, resamples: 2 });
    if (r.test.pValue <= 0.05) rejected++;
  }
  // 10 expected; binomial(200, 0.05) exceeds 17 with probability < 1%
  assert.ok(rejected <= 17, `rejected ${rejected} of 200`);
});

Deno.test("`testTokenContent()` detects an injected content effect", () => {
  let rejected = 0;
  for (let seed = 1; seed <= 50; seed++) {
    const trace = simulatePrepared({
      seed,
      prompts: PROMPTS,
      repetitions: 8,
      tokenContentUsPerByte: 150,
    });
    if (testTokenContent(trace, { seed, permutations: 99, resamples: 2 }).test.pValue <= 0.05) {
      rejected++;
    }
  }
  assert.ok(rejected >= 45, `rejected ${rejected} of 50`);
});

Deno.test("`testTokenContent()` recovers the per-byte effect inside its interval", () => {
  const r = testTokenContent(simulatePrepared({ seed: 2, tokenContentUsPerByte: 200 }), {
    permutations: 99,
    resamples: 300,
  });
  const perByte = r.effects.find((e) => e.feature === "piece_bytes")!.effectUs;
  assert.ok(perByte.low < 200 && 200 < perByte.high, JSON.stringify(perByte));
  assert.equal(perByte.unit, "µs per byte");
  assert.ok(r.test.pValue < 0.05);
  assert.equal(r.table.height, 8);
  assert.ok(r.partialR2Pct > 1);
});

Deno.test("`testTokenContent()` reports its wild cluster bootstrap method", () => {
  const r = testTokenContent(simulatePrepared({ seed: 3 }), { permutations: 19, resamples: 2 });
  assert.equal(r.test.statisticName, "Wald F (CR1)");
  assert.equal(r.test.permutations, 19);
  assert.match(r.test.method, /^wild cluster restricted bootstrap of the cluster-robust/);
  assert.match(r.test.method, /all 20 runs \(\d+ tokens\), 19 replicates, seed 1$/);
  assert.equal(r.tokens + 0, r.effects[0]!.tokens);
});

Deno.test("`testTokenContent()` keeps its size with autocorrelated noise and clustered content", () => {
  // the former within-run shuffle rejected about 70% of these null traces (AR 0.7)
  let rejected = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const trace = simulatePrepared({
      seed,
      repetitions: 11,
      arCoefficient: 0.7,
      contentBlockTokens: 8,
    });
    if (testTokenContent(trace, { seed, permutations: 99, resamples: 2 }).test.pValue <= 0.05) {
      rejected++;
    }
  }
  // 5 expected; binomial(100, 0.05) exceeds 11 with probability < 1%
  assert.ok(rejected <= 11, `rejected ${rejected} of 100`);
});

Deno.test("`testTokenContent()` says why it cannot test with too few runs", () => {
  const prompts = [{ id: "p", class: "simple", promptTokens: 24, maxTokens: 40 }];
  const r = testTokenContent(simulatePrepared({ prompts, repetitions: 5 }), {
    permutations: 9,
    resamples: 2,
  });
  assert.ok(Number.isNaN(r.test.pValue));
  assert.match(r.test.method, /^needs more runs than \d+, found 5; /);
});
