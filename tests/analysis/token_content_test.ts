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

Deno.test("`testTokenContent()` tests a seeded subset of runs above its token cap", () => {
  const r = testTokenContent(simulatePrepared({ seed: 3 }), {
    permutations: 19,
    resamples: 2,
    maxTestTokens: 200,
  });
  assert.match(
    r.test.method,
    /on a seeded random subset of 5 of 20 runs \(\d+ tokens\), 19 permutations, seed 1$/,
  );
  assert.equal(r.tokens + 0, r.effects[0]!.tokens);
});
