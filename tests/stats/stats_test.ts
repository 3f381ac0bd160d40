import assert from "node:assert/strict";
import { intervalSide, studentizedEstimate, studentizedMethod } from "../../lib/stats/stats.ts";

Deno.test("`studentizedEstimate()` turns t replicates into a bootstrap-t interval", () => {
  // t* quantiles 2.5% and 97.5% of -3..1 by 0.01 (type 7): -2.9, 0.9
  const t = Float64Array.from({ length: 401 }, (_, k) => -3 + k * 0.01);
  const e = studentizedEstimate(10, 2, Float64Array.of(...t, Number.NaN), "µs", "m");
  assert.ok(Math.abs(e.low - (10 - 0.9 * 2)) < 1e-12, `low ${e.low}`);
  assert.ok(Math.abs(e.high - (10 + 2.9 * 2)) < 1e-12, `high ${e.high}`);
  assert.equal(e.method, "m");
  assert.equal(
    studentizedMethod(40, 200, 3, "classical"),
    "studentized (bootstrap-t) cluster bootstrap over 40 runs, classical standard errors, 200 resamples, seed 3",
  );
});

Deno.test("`intervalSide()` places an interval above, below or within a value or range", () => {
  assert.equal(intervalSide({ low: 0.1, high: 2 }), "above");
  assert.equal(intervalSide({ low: -2, high: -0.1 }), "below");
  assert.equal(intervalSide({ low: -1, high: 1 }), "within");
  assert.equal(intervalSide({ low: 0, high: 1 }), "within");
  assert.equal(intervalSide({ low: 0.5, high: 0.8 }, [1, 2]), "below");
  assert.equal(intervalSide({ low: 2.5, high: 3 }, [1, 2]), "above");
  assert.equal(intervalSide({ low: 1.5, high: 3 }, [1, 2]), "within");
  assert.equal(intervalSide({ low: Number.NaN, high: Number.NaN }), "within");
});
