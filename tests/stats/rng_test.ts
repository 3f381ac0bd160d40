import assert from "node:assert/strict";
import { clusterBootstrap, resampleCounts, Rng, weightedTotals } from "../../lib/stats/rng.ts";

Deno.test("`Rng` is reproducible from its seed and its streams differ", () => {
  const draws = (rng: Rng): number[] => Array.from({ length: 5 }, () => rng.nextUint32());
  assert.deepEqual(draws(new Rng(7)), draws(new Rng(7)));
  assert.notDeepEqual(draws(new Rng(7)), draws(new Rng(8)));
  assert.notDeepEqual(draws(new Rng(7)), draws(new Rng(7, { stream: "mulberry32" })));
  const u = new Rng(3).uniform();
  assert.ok(u >= 0 && u < 1);
});

Deno.test("`Rng` mulberry32 stream gives the published mulberry32 sequence for seed 0", () => {
  // first three outputs of mulberry32 from state 0 (0.26642920868471265 as a uniform)
  const rng = new Rng(0, { stream: "mulberry32" });
  assert.deepEqual(
    [rng.nextUint32(), rng.nextUint32(), rng.nextUint32()],
    [1144304738, 1416247, 958946056],
  );
});

Deno.test("`Rng.shuffle()` permutes in place with one int() draw per position", () => {
  const items = Array.from({ length: 20 }, (_, i) => i);
  const shuffled = new Rng(1).shuffle(items.slice());
  assert.deepEqual([...shuffled].sort((a, b) => a - b), items);
  assert.notDeepEqual(shuffled, items);
  // the same swaps written out by hand
  const rng = new Rng(1);
  const expected = items.slice();
  for (let i = expected.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [expected[i], expected[j]] = [expected[j]!, expected[i]!];
  }
  assert.deepEqual(shuffled, expected);
  assert.deepEqual(new Rng(1).shuffle([]), []);
});

Deno.test("`clusterBootstrap()` records the statistic of each resample in stream order", () => {
  const x = [1, 2, 3, 4];
  const reps = clusterBootstrap(new Rng(5), { units: 4, resamples: 50, width: 2 }, (counts) => {
    const [sum, n] = weightedTotals([x, [1, 1, 1, 1]], counts);
    return [sum!, n!];
  });
  assert.equal(reps.length, 2);
  assert.ok(reps[1]!.every((n) => n === 4));
  const rng = new Rng(5);
  const counts = new Float64Array(4);
  for (let r = 0; r < 50; r++) {
    resampleCounts(rng, counts);
    assert.equal(reps[0]![r], counts.reduce((s, c, u) => s + c * x[u]!, 0));
  }
});

Deno.test("`weightedTotals()` counts every unit once without weights and skips weight 0", () => {
  assert.deepEqual(Array.from(weightedTotals([[1, 2, 3], [4, 5, 6]], null)), [6, 15]);
  assert.deepEqual(
    Array.from(weightedTotals([[1, 2, Number.NaN]], new Float64Array([2, 1, 0]))),
    [4],
  );
  assert.deepEqual(Array.from(weightedTotals([], null)), []);
});
