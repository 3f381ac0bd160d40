import assert from "node:assert/strict";
import pl from "nodejs-polars";
import {
  CompareError,
  compareSessions,
  comparisonJson,
  formatComparison,
  simulateTrace,
  type Trace,
} from "../../mod.ts";

const PROMPTS = [
  { id: "a", class: "simple", promptTokens: 10, maxTokens: 40 },
  { id: "b", class: "complex", promptTokens: 30, maxTokens: 40 },
];

/** Two simulated sessions concatenated into one dataset. */
function twoSessions(a: Trace, b: Trace): Trace {
  const cat = (x: unknown, y: unknown): pl.DataFrame =>
    pl.concat([x as pl.DataFrame, y as pl.DataFrame]);
  return {
    sessions: cat(a.sessions, b.sessions),
    runs: cat(a.runs, b.runs),
    tokens: cat(a.tokens, b.tokens),
  };
}

/** A simulated trace with one session-table column replaced. */
function withSession(trace: Trace, column: string, value: string | number): Trace {
  const s = trace.sessions as pl.DataFrame;
  return {
    ...trace,
    sessions: s.withColumns(pl.lit(value).cast(s.getColumn(column).dtype).alias(column)),
  };
}

Deno.test("`compareSessions()` recovers a known ratio on every metric, with the right verdicts", () => {
  const base = simulateTrace({ seed: 3, prompts: PROMPTS, repetitions: 8 });
  const cand = simulateTrace({ seed: 4, prompts: PROMPTS, repetitions: 8, latencyScale: 0.8 });
  const r = compareSessions(base, cand);
  const m = r.metrics;
  for (const key of ["decodeTokensPerS", "e2eTokensPerS", "prefillTokensPerS"] as const) {
    assert.ok(
      m[key].ratio.low < 1.25 && 1.25 < m[key].ratio.high,
      `${key}: ${JSON.stringify(m[key].ratio)}`,
    );
    assert.equal(m[key].verdict, "faster");
  }
  for (const key of ["ttftMs", "itlP50Ms"] as const) {
    assert.ok(
      m[key].ratio.low < 0.8 && 0.8 < m[key].ratio.high,
      `${key}: ${JSON.stringify(m[key].ratio)}`,
    );
    assert.equal(m[key].verdict, "faster");
  }
  assert.match(
    m.decodeTokensPerS.ratio.method,
    /Welch t interval on the mean log ratio over 2 shared cells \(16 \+ 16 runs/,
  );
  assert.equal(m.decodeTokensPerS.baselineRuns, 16);
  assert.ok(m.decodeTokensPerS.detectablePct > 2 && m.decodeTokensPerS.detectablePct < 20);
  assert.deepEqual(r.cells.map((c) => c.key), ["a depth 0 max 40", "b depth 0 max 40"]);
  assert.deepEqual(r.leftOut, []);
  // reversed sides: the reciprocal ratio and the opposite verdict
  const back = compareSessions(cand, base);
  assert.ok(
    Math.abs(back.metrics.decodeTokensPerS.ratio.value * m.decodeTokensPerS.ratio.value - 1) <
      1e-12,
  );
  assert.equal(back.metrics.decodeTokensPerS.verdict, "slower");
  assert.equal(back.metrics.ttftMs.verdict, "slower");
});

Deno.test("`compareSessions()` gives exactly 1 and `no change` for a trace against itself", () => {
  const t = simulateTrace({ seed: 5, repetitions: 3 });
  const r = compareSessions(t, t);
  for (const m of Object.values(r.metrics)) {
    assert.equal(m.ratio.value, 1);
    assert.equal(m.ratio.low, 1);
    assert.equal(m.verdict, "no change");
  }
  assert.ok(r.warnings.some((w) => w.kind === "same-runs"));
  const json = comparisonJson(r);
  assert.equal(json.ttftMs.ratio.value, 1);
  assert.equal(json.ttftMs.verdict, "no change");
});

Deno.test("`compareSessions()` calls a small real change inconclusive or no change, never faster at a wide threshold", () => {
  const base = simulateTrace({ seed: 7, repetitions: 5 });
  const cand = simulateTrace({ seed: 8, repetitions: 5, latencyScale: 1 / 1.01 });
  const r = compareSessions(base, cand, { thresholdPct: 10 });
  assert.equal(r.thresholdPct, 10);
  assert.equal(r.metrics.decodeTokensPerS.verdict, "no change");
});

Deno.test("`compareSessions()` compares two sessions of one dataset and lists environment differences", () => {
  const a = simulateTrace({ seed: 11, repetitions: 4 });
  const b = withSession(
    simulateTrace({ seed: 12, repetitions: 4, latencyScale: 0.9 }),
    "backend",
    "vulkan",
  );
  const both = twoSessions(a, b);
  const ids = (both.sessions as pl.DataFrame).getColumn("session_id").toArray() as string[];
  const r = compareSessions(both, both, { baselineSession: ids[0], candidateSession: ids[1] });
  assert.deepEqual(r.baselineSessions, [ids[0]]);
  assert.deepEqual(r.candidateSessions, [ids[1]]);
  assert.equal(r.metrics.decodeTokensPerS.verdict, "faster");
  assert.deepEqual(r.environment, [{ field: "backend", baseline: "cpu", candidate: "vulkan" }]);
  assert.match(formatComparison(r), /backend: cpu -> vulkan/);
  // the whole dataset on one side pools its sessions, and says so
  const pooled = compareSessions(both, a);
  assert.ok(pooled.warnings.some((w) => w.kind === "pooled-sessions" && w.side === "baseline"));
  assert.throws(
    () => compareSessions(both, both, { baselineSession: "nope" }),
    (e) =>
      e instanceof CompareError &&
      /^Cannot compare sessions: the baseline has no session "nope"/.test(e.message),
  );
});

Deno.test("`compareSessions()` compares only shared cells, says which were left out, and refuses when none is shared", () => {
  const base = simulateTrace({ seed: 13, prompts: PROMPTS, repetitions: 4 });
  const cand = simulateTrace({
    seed: 14,
    prompts: [PROMPTS[0]!, { id: "c", class: "simple", promptTokens: 5, maxTokens: 40 }],
    repetitions: 4,
  });
  const r = compareSessions(base, cand);
  assert.deepEqual(r.cells, [{ key: "a depth 0 max 40", baselineRuns: 4, candidateRuns: 4 }]);
  assert.deepEqual(r.leftOut, [
    { side: "baseline", key: "b depth 0 max 40", runs: 4 },
    { side: "candidate", key: "c depth 0 max 40", runs: 4 },
  ]);
  assert.ok(r.warnings.some((w) => w.kind === "few-runs"));
  const other = simulateTrace({
    seed: 15,
    prompts: [{ id: "z", class: "simple", promptTokens: 5, maxTokens: 40 }],
  });
  assert.throws(
    () => compareSessions(base, other),
    (e) =>
      e instanceof CompareError &&
      e.message ===
        'Cannot compare sessions: baseline and candidate share no prompt and setting (baseline has "a depth 0 max 40", "b depth 0 max 40"; candidate has "z depth 0 max 40"); trace both with the same suite',
  );
  assert.throws(
    () => compareSessions(base, base, { thresholdPct: 0 }),
    (e) =>
      e instanceof RangeError &&
      /thresholdPct must be a number > 0 and < 100, found 0/.test(e.message),
  );
});

Deno.test("`compareSessions()` warns about stalls on one side, drift and a slow first run", () => {
  const base = simulateTrace({ seed: 21, repetitions: 5, stallProbability: 0 });
  const cand = simulateTrace({ seed: 22, repetitions: 5, stallProbability: 0.05 });
  const r = compareSessions(base, cand);
  const stalls = r.warnings.find((w) => w.kind === "stalls");
  assert.equal(stalls?.side, "candidate");
  assert.match(stalls!.message, /^stalls on one side: candidate has \d+ stalls/);
  assert.ok(
    !compareSessions(base, simulateTrace({ seed: 23, repetitions: 5, stallProbability: 0 }))
      .warnings
      .some((w) => w.kind === "stalls"),
  );

  const drifting = simulateTrace({ seed: 24, repetitions: 10, driftUsPerMinute: 200000 });
  const d = compareSessions(base, drifting).warnings.find((w) => w.kind === "drift");
  assert.equal(d?.side, "candidate");
  assert.match(d!.message, /^candidate: decode latency drifts by \d+\.\d% over the session/);

  // the first measured run of the candidate made 3x slower
  const slow = simulateTrace({ seed: 25, repetitions: 5, warmupRuns: 0 });
  const runs = slow.runs as pl.DataFrame;
  const first = runs.getColumn("run_id").get(0) as string;
  const scaled: Trace = {
    ...slow,
    runs: runs.withColumns(
      pl.when(pl.col("run_id").eq(pl.lit(first))).then(pl.col("total_ms").mul(3)).otherwise(
        pl.col("total_ms"),
      )
        .alias("total_ms"),
    ),
  };
  const w = compareSessions(base, scaled).warnings.find((x) => x.kind === "slow-first-run");
  assert.equal(w?.side, "candidate");
  assert.match(
    w!.message,
    /the first measured run of session .* took \d+% longer than the rest of its cell/,
  );
});

Deno.test("`compareSessions()` makes threads part of the cell when a side sweeps them", () => {
  const t = simulateTrace({ seed: 31, repetitions: 3 });
  const runs = t.runs as pl.DataFrame;
  const swept: Trace = {
    ...t,
    runs: runs.withColumns(
      pl.when(pl.col("repetition").eq(0)).then(pl.lit(2)).otherwise(pl.lit(1)).cast(pl.Int32).alias(
        "threads",
      ),
    ),
  };
  const r = compareSessions(t, swept);
  assert.ok(r.cells.every((c) => c.key.endsWith(" threads 1")));
  assert.ok(r.leftOut.some((c) => c.side === "candidate" && c.key.endsWith(" threads 2")));
});
