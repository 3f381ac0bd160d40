import assert from "node:assert/strict";
import { invertSpd } from "../../lib/stats/linalg.ts";

Deno.test("`invertSpd()` inverts a symmetric positive-definite matrix", () => {
  const a = [4, 2, 0.6, 2, 5, 1, 0.6, 1, 3];
  const inv = invertSpd(a, 3)!;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let x = 0;
      for (let m = 0; m < 3; m++) x += a[i * 3 + m]! * inv[m * 3 + j]!;
      assert.ok(Math.abs(x - (i === j ? 1 : 0)) < 1e-14, `(${i}, ${j}): ${x}`);
    }
  }
  assert.equal(inv[1]!, inv[3]!);
});

Deno.test("`invertSpd()` returns null for a singular or indefinite matrix", () => {
  assert.equal(invertSpd([1, 2, 2, 4], 2), null);
  assert.equal(invertSpd([1, 3, 3, 1], 2), null);
  assert.equal(invertSpd([0], 1), null);
});
