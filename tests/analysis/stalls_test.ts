import assert from "node:assert/strict";
import pl from "nodejs-polars";
import {
  detectStalls,
  flagStalls,
  MAD_SCALE,
  sessionDrift,
  simulateTrace,
  STALL_THRESHOLD,
  warmupEffect,
} from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

Deno.test("`detectStalls()` finds injected stalls and where they fall", () => {
  const s = detectStalls(simulatePrepared({ seed: 4, stallProbability: 0.02, repetitions: 10 }), {
    resamples: 300,
  });
  assert.ok(s.ratePer1000.low < 20 && 20 < s.ratePer1000.high, JSON.stringify(s.ratePer1000));
  assert.ok(s.thresholdMs > 3 && s.thresholdMs < 8, `threshold ${s.thresholdMs}`);
  const sum = (values: unknown[]): number => (values as number[]).reduce((a, b) => a + b, 0);
  assert.equal(sum(s.byTokenIndex.getColumn("stalls").toArray()), s.stalls);
  assert.equal(sum(s.byRun.getColumn("stalls").toArray()), s.stalls);
  assert.equal(s.byRun.height, 40, "measured runs only by default");
  assert.equal(
    detectStalls(simulatePrepared({ seed: 4, stallProbability: 0.02, repetitions: 10 }), {
      resamples: 10,
      includeWarmup: true,
    }).byRun.height,
    41,
  );
  assert.ok(s.maxStallMs > 35);
  const none = detectStalls(simulatePrepared({ seed: 4, stallProbability: 0 }), { resamples: 10 });
  assert.equal(none.stalls, 0);
  assert.ok(Number.isNaN(none.maxStallMs));
});

Deno.test("`detectStalls()` rejects a threshold that is not positive", () => {
  assert.throws(
    () => detectStalls(simulatePrepared(), { threshold: 0 }),
    new RangeError("Cannot detect stalls: threshold must be > 0, found 0"),
  );
});

Deno.test("`warmupEffect()` finds the injected warm-up penalty", () => {
  const w = warmupEffect(simulatePrepared({ seed: 6, warmupPenaltyMs: 3 }));
  assert.equal(w.group, "flagged warm-up runs");
  assert.equal(w.comparison, "other runs of the same prompt and depth");
  assert.equal(w.otherRuns, 5);
  assert.ok(w.effectMs.low < 3 && 3 < w.effectMs.high, JSON.stringify(w.effectMs));
  assert.ok(w.pValue < 0.01);
  const none = warmupEffect(simulatePrepared({ seed: 6, warmupPenaltyMs: 0 }));
  assert.ok(none.effectMs.low < 0 && 0 < none.effectMs.high, JSON.stringify(none.effectMs));
});

Deno.test("`warmupEffect()` finds the warm-up in 200 seeds and its interval covers the penalty", () => {
  const prompts = [
    { id: "a", class: "simple", promptTokens: 24, maxTokens: 20 },
    { id: "b", class: "complex", promptTokens: 24, maxTokens: 20 },
  ];
  let found = 0, covered = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const w = warmupEffect(simulatePrepared({ seed, prompts, repetitions: 8, warmupPenaltyMs: 3 }));
    if (w.effectMs.low > 0) found++;
    if (w.effectMs.low <= 3 && 3 <= w.effectMs.high) covered++;
  }
  assert.ok(found >= 190, `found ${found} of 200`);
  assert.ok(covered >= 180 && covered <= 198, `covered ${covered} of 200`);
});

Deno.test("`warmupEffect()` compares each session's first run when none is flagged", () => {
  const trace = simulateTrace({ seed: 6, warmupPenaltyMs: 3 });
  const w = warmupEffect({
    ...trace,
    runs: (trace.runs as pl.DataFrame).withColumns(pl.lit(false).alias("warmup")),
  });
  assert.equal(w.group, "first run of each session");
  assert.ok(w.effectMs.low > 0);
  assert.throws(
    () =>
      warmupEffect(
        simulatePrepared({
          repetitions: 1,
          prompts: [{ id: "a", class: "x", promptTokens: 4, maxTokens: 5 }],
          warmupRuns: 0,
        }),
      ),
    new RangeError(
      "Cannot measure the warm-up effect: the trace must have warm-up and other runs with decode tokens, found 1 and 0",
    ),
  );
});

Deno.test("`sessionDrift()` recovers an injected drift", () => {
  // runs take about 1 s each: 41 runs span under a minute, so inject a steep drift
  const d = sessionDrift(simulatePrepared({ seed: 2, driftUsPerMinute: 3000, repetitions: 10 }));
  assert.ok(
    d.slopeUsPerMinute.low < 3000 && 3000 < d.slopeUsPerMinute.high,
    JSON.stringify(d.slopeUsPerMinute),
  );
  const flat = sessionDrift(simulatePrepared({ seed: 2, repetitions: 10 }));
  assert.ok(flat.slopeUsPerMinute.low < 0 && 0 < flat.slopeUsPerMinute.high);
  assert.equal(d.timeline.height, 40);
  assert.equal(d.sessions, 1);
});

Deno.test("`flagStalls()` is the rule `detectStalls()` counts, and rejects bad input", () => {
  const prep = simulatePrepared({ seed: 8, stallProbability: 0.02, repetitions: 6 });
  const rule = flagStalls(prep.tokens.latencyMs, prep.tokens.run, { runs: prep.runs.count });
  let measured = 0;
  for (let t = 0; t < rule.flags.length; t++) {
    if (rule.flags[t] === 1 && prep.runs.warmup[prep.tokens.run[t]!] === 0) measured++;
  }
  const counted = detectStalls(prep, { resamples: 10 });
  assert.equal(counted.stalls, measured);
  assert.equal(counted.thresholdMs, rule.thresholdMs);
  assert.equal(detectStalls(prep, { resamples: 10, includeWarmup: true }).stalls, rule.count);
  assert.equal(STALL_THRESHOLD, 5);
  assert.equal(MAD_SCALE, 1.4826);
  assert.throws(
    () => flagStalls([1, 2], [0]),
    new RangeError(
      "Cannot flag stalls: run must give one run index per latency, found 1 for 2 latencies",
    ),
  );
  assert.throws(
    () => flagStalls([1, 2], [0, 3], { runs: 2 }),
    new RangeError("Cannot flag stalls: run indices must be integers from 0 to 1, found 3"),
  );
  assert.throws(
    () => flagStalls([1], [0], { threshold: -1 }),
    new RangeError("Cannot flag stalls: threshold must be > 0, found -1"),
  );
});
