import assert from "node:assert/strict";
import { decomposeVariance, simulateTrace } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";
import { ols } from "../../lib/stats/ols.ts";

Deno.test("`decomposeVariance()` shares add up to the R² of the full model", () => {
  const trace = simulatePrepared({
    seed: 3,
    depths: [0, 500],
    slopeUsPerToken: 10,
    tokenContentUsPerByte: 100,
  });
  const v = decomposeVariance(trace, { resamples: 20 });
  const sum = v.groups.reduce((s, g) => s + g.share.value, 0);
  assert.ok(Math.abs(sum - v.explained.value) < 1e-9);
  assert.ok(Math.abs(v.residual.value - (100 - v.explained.value)) < 1e-12);
  assert.ok(Math.abs(v.residualBetweenRunsPct + v.residualWithinRunsPct - v.residual.value) < 1e-9);
  assert.deepEqual(v.table.getColumn("group").toArray(), [
    "position",
    "run",
    "promptClass",
    "promptLength",
    "tokenContent",
    "residual",
  ]);

  // the same R² from a token-by-token least-squares fit on every predictor
  const t = trace.tokens;
  const r = trace.runs;
  const cls = (c: number) => Float64Array.from(t.charClass, (v) => (v === c ? 1 : 0));
  const perRun = (a: ArrayLike<number>) => Float64Array.from(t.run, (i) => a[i]!);
  const fit = ols([
    Float64Array.from(t.position),
    Float64Array.from(t.pieceBytes),
    cls(1),
    cls(2),
    cls(3),
    cls(4),
    cls(5),
    Float64Array.from(t.wordInitial),
    Float64Array.from(t.idRank),
    perRun(r.warmup),
    perRun(r.orderIndex),
    perRun(r.repetition),
    perRun(r.startedAtMs),
    perRun(r.promptClass),
    perRun(r.promptTokens),
  ], t.latencyMs);
  assert.ok(Math.abs(v.explained.value - (1 - fit.rss / fit.tss) * 100) < 1e-6);
});

Deno.test("`decomposeVariance()` attributes variance to the injected sources", () => {
  const strong = decomposeVariance(
    simulateTrace({ seed: 5, depths: [0, 2000], slopeUsPerToken: 20, noiseSdMs: 0.5 }),
    { resamples: 50 },
  );
  const share = (name: string) => strong.groups.find((g) => g.name === name)!.share;
  assert.ok(share("position").value > 80, JSON.stringify(share("position")));
  assert.ok(share("tokenContent").value < 1);
  const byClass = decomposeVariance(
    simulatePrepared({ seed: 5, classOffsetsUs: { complex: 3000 }, noiseSdMs: 0.5 }),
    { resamples: 50, excludeStalls: true },
  );
  const classShare = byClass.groups.find((g) => g.name === "promptClass")!.share;
  assert.ok(classShare.value > 50 && classShare.low > 30, JSON.stringify(classShare));
  assert.match(
    classShare.method,
    /^percentile cluster bootstrap over 21 runs, 50 resamples, seed 1$/,
  );
});

Deno.test("`decomposeVariance()` is reproducible from its seed", () => {
  const trace = simulatePrepared({ seed: 8 });
  const a = decomposeVariance(trace, { resamples: 30, seed: 4 });
  const b = decomposeVariance(trace, { resamples: 30, seed: 4 });
  assert.deepEqual(a.groups, b.groups);
});
