import assert from "node:assert/strict";
import { simulateTrace, testPromptClass } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

const PROMPTS = [
  { id: "s1", class: "simple", promptTokens: 24, maxTokens: 20 },
  { id: "c1", class: "complex", promptTokens: 24, maxTokens: 20 },
  { id: "s2", class: "simple", promptTokens: 40, maxTokens: 20 },
  { id: "c2", class: "complex", promptTokens: 40, maxTokens: 20 },
];

Deno.test("`testPromptClass()` recovers the injected class offset", () => {
  // 40 runs: the effect's standard error is about 110 µs
  const r = testPromptClass(
    simulateTrace({ seed: 1, repetitions: 10, classOffsetsUs: { complex: 500 } }),
    {
      permutations: 499,
      resamples: 500,
    },
  );
  assert.equal(r.reference, "simple");
  assert.equal(r.strata, 2);
  assert.equal(r.runs, 40);
  const e = r.effects[0]!;
  assert.equal(e.class, "complex");
  assert.ok(e.effectUs.low < 500 && 500 < e.effectUs.high, JSON.stringify(e.effectUs));
  assert.ok(r.test!.pValue < 0.01);
  assert.deepEqual(r.table.getColumn("class").toArray(), ["simple", "complex"]);
});

Deno.test("`testPromptClass()` interval covers the class offset in about 95% of 200 seeds", () => {
  let covered = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const trace = simulatePrepared({ seed, prompts: PROMPTS, repetitions: 16 });
    const e =
      testPromptClass(trace, { seed, permutations: 1, resamples: 400 }).effects[0]!.effectUs;
    if (e.low <= 500 && 500 <= e.high) covered++;
  }
  assert.ok(covered >= 180 && covered <= 198, `covered ${covered} of 200`);
});

Deno.test("`testPromptClass()` rejects no more often than the nominal 5% without a class effect", () => {
  let rejected = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const trace = simulatePrepared({ seed, prompts: PROMPTS, repetitions: 4, classOffsetsUs: {} });
    if (testPromptClass(trace, { seed, permutations: 99, resamples: 1 }).test!.pValue <= 0.05) {
      rejected++;
    }
  }
  assert.ok(rejected <= 17, `rejected ${rejected} of 200`);
});

Deno.test("`testPromptClass()` says when no stratum matches two classes", () => {
  const prompts = [
    { id: "s", class: "simple", promptTokens: 10, maxTokens: 20 },
    { id: "c", class: "complex", promptTokens: 90, maxTokens: 20 },
  ];
  const r = testPromptClass(simulatePrepared({ prompts }), { permutations: 9, resamples: 9 });
  assert.equal(r.test, null);
  assert.equal(r.unmatchedRuns, 10);
  assert.equal(r.effects[0]!.effectUs.method, "no matched-length stratum holds two prompt classes");
  // wider bins match them
  const wide = testPromptClass(simulatePrepared({ prompts }), {
    permutations: 9,
    resamples: 9,
    lengthBinTokens: 128,
  });
  assert.notEqual(wide.test, null);
});
