import assert from "node:assert/strict";
import { Rng } from "../../lib/stats/rng.ts";
import pl from "nodejs-polars";
import {
  type ColumnType,
  compareThreads,
  detectStalls,
  formatSummary,
  readDataset,
  SCHEMA,
  simulateTrace,
  summarizeRuns,
  summarizeSession,
  type TableName,
} from "../../mod.ts";

const DTYPES: Record<ColumnType, pl.DataType> = {
  utf8: pl.Utf8,
  int32: pl.Int32,
  int64: pl.Int64,
  float64: pl.Float64,
  bool: pl.Bool,
};

const FILL: Record<ColumnType, unknown> = { utf8: "", int32: 0, int64: 0, float64: 0, bool: false };

/** A frame with exactly the schema's columns and dtypes; missing values get a filler. */
function frame(table: TableName, rows: Record<string, unknown>[]): pl.DataFrame {
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      assert.ok(SCHEMA[table].some((col) => col.name === key), `${table} has no column ${key}`);
    }
  }
  return pl.DataFrame(
    SCHEMA[table].map((col) =>
      pl.Series(col.name, rows.map((row) => row[col.name] ?? FILL[col.type]), DTYPES[col.type])
    ),
  );
}

interface RunSpec {
  prompt: string;
  warmup?: boolean;
  latencies: number[];
  depth?: number;
  session?: string;
  cls?: string;
  threads?: number;
}

/** runs and tokens frames for runs given by their token latencies (token 0 = TTFT). */
function dataset(specs: RunSpec[]): { runs: pl.DataFrame; tokens: pl.DataFrame } {
  const runs: Record<string, unknown>[] = [];
  const tokens: Record<string, unknown>[] = [];
  specs.forEach((spec, order) => {
    const session = spec.session ?? "s1";
    const runId = `${session}-${order}`;
    const n = spec.latencies.length;
    let t = 0;
    spec.latencies.forEach((latency, index) => {
      t += latency;
      tokens.push({
        session_id: session,
        run_id: runId,
        token_index: index,
        position: (spec.depth ?? 0) + 5 + index,
        phase: index === 0 ? "prefill" : "decode",
        t_ms: t,
        latency_ms: latency,
      });
    });
    const ttft = spec.latencies[0]!;
    runs.push({
      session_id: session,
      run_id: runId,
      order_index: order,
      warmup: spec.warmup ?? false,
      prompt_id: spec.prompt,
      prompt_class: spec.cls ?? "simple",
      prompt_tokens: 5,
      depth_tokens: spec.depth ?? 0,
      threads: spec.threads ?? 1,
      batch_size: 512,
      output_tokens: n,
      ttft_ms: ttft,
      decode_ms: t - ttft,
      total_ms: t,
      e2e_tokens_per_s: n / (t / 1000),
      decode_tokens_per_s: (n - 1) / ((t - ttft) / 1000),
    });
  });
  return { runs: frame("runs", runs), tokens: frame("tokens", tokens) };
}

Deno.test("`summarizeRuns()` computes median and IQR of decode tokens/s over measured runs", () => {
  // Decode rates 1000/ms-per-token: 10, 20, 25, 40, 50 tokens/s (two decode tokens each).
  const { runs, tokens } = dataset(
    [100, 50, 40, 25, 20].map((ms) => ({ prompt: "p", latencies: [200, ms, ms] })),
  );
  const [p] = summarizeRuns(runs, tokens);
  assert.equal(p?.runs, 5);
  assert.equal(p?.outputTokens, 15);
  assert.equal(p?.outputTokensPerRun, 3);
  assert.equal(p?.ttftMsMedian, 200);
  assert.equal(p?.decodeTokensPerSQ1, 20);
  assert.equal(p?.decodeTokensPerSMedian, 25);
  assert.equal(p?.decodeTokensPerSQ3, 40);
  // e2e: 3 tokens / (200 + 2 * ms) ms; the median run is ms = 40.
  assert.equal(p?.e2eTokensPerSMedian, 3 / 0.28);
  assert.equal(p?.warmup, null);
});

Deno.test("`summarizeRuns()` keeps warm-up runs out of the figures and reports them apart", () => {
  const { runs, tokens } = dataset([
    { prompt: "p", warmup: true, latencies: [900, 300, 300] },
    { prompt: "p", latencies: [100, 20, 20] },
    { prompt: "p", latencies: [120, 30, 30] },
  ]);
  const [p] = summarizeRuns(runs, tokens);
  assert.equal(p?.runs, 2);
  assert.equal(p?.outputTokens, 6);
  assert.equal(p?.ttftMsMedian, 110);
  assert.equal(p?.interTokenMsP50, 25);
  assert.equal(p?.stalls, 0);
  assert.deepEqual(p?.warmup, {
    runs: 1,
    ttftMs: 900,
    decodeTokensPerS: 2 / 0.6,
    e2eTokensPerS: 3 / 1.5,
  });
});

Deno.test("`summarizeRuns()` pools decode-phase latencies for p50/p90/p99, leaving out token 0", () => {
  const latencies = [5000, ...Array.from({ length: 100 }, (_, i) => i + 1)]; // 1..100 ms
  const { runs, tokens } = dataset([{ prompt: "p", latencies }]);
  const [p] = summarizeRuns(runs, tokens);
  assert.equal(p?.decodeTokens, 100);
  assert.equal(p?.interTokenMsP50, 50.5);
  assert.ok(Math.abs(p!.interTokenMsP90! - 90.1) < 1e-9);
  assert.ok(Math.abs(p!.interTokenMsP99! - 99.01) < 1e-9);
});

Deno.test("`summarizeRuns()` counts stalls by the one stall rule, pooled over the dataset", () => {
  const { runs, tokens } = dataset([
    // Medians 20 and 100 ms; pooled deviations have MAD 1 ms, so the threshold is 7.41 ms
    // above the run median: 80 (+60) and 130 (+30) are both stalls (3x the median would
    // have counted only the first).
    { prompt: "p", latencies: [500, 20, 21, 19, 20, 22, 21, 19, 20, 80] },
    { prompt: "p", latencies: [500, 100, 101, 99, 100, 102, 99, 101, 100, 130] },
  ]);
  const [p] = summarizeRuns(runs, tokens);
  assert.equal(p?.stalls, 2);
  assert.equal(p?.decodeTokens, 18);
});

Deno.test("`summarizeRuns()` stall column adds up to `detectStalls()` on the sample and a simulated trace", async () => {
  const sample = await readDataset(new URL("../../data/sample-trace", import.meta.url).pathname);
  const simulated = simulateTrace({ seed: 3, stallProbability: 0.01, repetitions: 8 });
  for (const [name, trace] of [["sample", sample], ["simulated", simulated]] as const) {
    const summed = summarizeRuns(trace.runs, trace.tokens).reduce((n, p) => n + p.stalls, 0);
    const counted = detectStalls(trace, { resamples: 10 }).stalls;
    assert.equal(summed, counted, `${name}: summary ${summed}, detectStalls ${counted}`);
    assert.ok(counted > 0, `${name} has stalls`);
  }
});

Deno.test("`summarizeRuns()` splits a prompt by setting and lists prompts in the given order", () => {
  const { runs, tokens } = dataset([
    { prompt: "b", latencies: [10, 10] },
    { prompt: "a", latencies: [10, 10] },
    { prompt: "a", depth: 1024, latencies: [10, 20] },
    { prompt: "b", depth: 1024, latencies: [10, 20] },
  ]);
  const summaries = summarizeRuns(runs, tokens, { promptOrder: ["a", "b"] });
  assert.deepEqual(summaries.map((p) => `${p.promptId}@${p.depthTokens}`), [
    "a@0",
    "b@0",
    "a@1024",
    "b@1024",
  ]);
  assert.deepEqual(
    summarizeRuns(runs, tokens).map((p) => p.promptId),
    ["b", "a", "a", "b"],
  );
  assert.equal(summaries[2]?.interTokenMsP50, 20);
});

Deno.test("`summarizeRuns()` gives null figures where a run has no decode tokens", () => {
  const { runs, tokens } = dataset([{ prompt: "p", latencies: [80] }]);
  const [p] = summarizeRuns(runs, tokens);
  assert.equal(p?.runs, 1);
  assert.equal(p?.ttftMsMedian, 80);
  assert.equal(p?.decodeTokensPerSMedian, null);
  assert.equal(p?.interTokenMsP50, null);
  assert.equal(p?.decodeTokens, 0);
  assert.doesNotThrow(() => JSON.stringify(p));
});

function sessions(rows: { id: string; started: string; plan?: unknown }[]): pl.DataFrame {
  return frame(
    "sessions",
    rows.map((row) => ({
      session_id: row.id,
      status: "interrupted",
      started_at_utc: row.started,
      suite: "default",
      model_path: "data/models/m.gguf",
      model_name: "m",
      model_quantization: "Q8_0",
      model_synthetic: true,
      backend: "cpu",
      threads: 2,
      plan_json: JSON.stringify(row.plan ?? {}),
    })),
  );
}

Deno.test("`summarizeSession()` summarizes one session, with its plan's size and order", () => {
  const { runs, tokens } = dataset([
    { prompt: "b", latencies: [10, 10] },
    { prompt: "a", latencies: [10, 10] },
    { prompt: "a", latencies: [10, 10], session: "s0" },
  ]);
  const plan = { runs: ["a", "b", "a", "b"].map((promptId) => ({ promptId })) };
  const summary = summarizeSession(
    {
      sessions: sessions([{ id: "s0", started: "2025-01-01T00:00:00Z" }, {
        id: "s1",
        started: "2025-02-01T00:00:00Z",
        plan,
      }]),
      runs: runs.lazy(),
      tokens: tokens.lazy(),
    },
    { datasetDir: "data/traces/" },
  );
  assert.equal(summary.session.sessionId, "s1");
  assert.equal(summary.session.runsDone, 2);
  assert.equal(summary.session.runsPlanned, 4);
  assert.equal(summary.session.sessionDir, "data/traces/session=s1");
  assert.equal(summary.session.reportCommand, "deno task report data/traces");
  assert.equal(summary.session.modelSynthetic, true);
  assert.deepEqual(summary.prompts.map((p) => p.promptId), ["a", "b"]);
  assert.throws(
    () => summarizeSession({ sessions: sessions([]), runs, tokens }, { sessionId: "zz" }),
    {
      name: "RangeError",
      message: 'Cannot summarize session "zz": the dataset in "." has no such session',
    },
  );
});

Deno.test("`formatSummary()` shows setting columns only when they vary, and warm-ups apart", () => {
  const { runs, tokens } = dataset([
    { prompt: "a", warmup: true, latencies: [50, 10] },
    { prompt: "a", latencies: [10, 10] },
    { prompt: "a", depth: 512, latencies: [10, 10] },
  ]);
  const base = summarizeSession({ sessions: sessions([{ id: "s1", started: "x" }]), runs, tokens });
  const text = formatSummary(base);
  assert.match(text, /^session: {2}s1 \(interrupted, 3\/3 runs, suite default\)$/m);
  assert.match(text, /synthetic/);
  assert.match(text, /\| prompt +\| class +\| depth \|/);
  assert.match(text, /e2e tok\/s \(naive\)/);
  assert.match(text, /Warm-up runs/);
  assert.match(text, /^report: {3}deno task report \.$/m);
  const flat = formatSummary({ ...base, prompts: base.prompts.filter((p) => p.depthTokens === 0) });
  assert.doesNotMatch(flat, /depth/);
  assert.ok(!text.includes("\u001b"));
});

/** A run of `perToken` ms per decode token (3 decode tokens after a 100 ms first token). */
function steady(threads: number, perToken: number, prompt = "p"): RunSpec {
  return { prompt, threads, latencies: [100, perToken, perToken, perToken] };
}

Deno.test("`compareThreads()` pools decode tokens over time per thread count and names the fastest", () => {
  const { runs } = dataset([
    { ...steady(1, 90), warmup: true }, // warm-ups are left out
    steady(1, 20),
    steady(2, 12),
    steady(1, 25),
    steady(2, 15),
    steady(1, 30),
    steady(2, 18),
  ]);
  const [c, ...rest] = compareThreads(runs);
  assert.equal(rest.length, 0);
  assert.equal(c?.depthTokens, 0);
  assert.equal(c?.batchSize, 512);
  assert.deepEqual(c?.promptIds, ["p"]);
  assert.equal(c?.balanced, true);
  const [one, two] = c!.rows;
  // 1 thread: 9 decode tokens in 60 + 75 + 90 ms = 40 tokens/s; runs 50, 40, 33.3 tokens/s.
  assert.equal(one?.threads, 1);
  assert.equal(one?.runs, 3);
  assert.equal(one?.decodeTokens, 9);
  assert.equal(one?.decodeMs, 225);
  assert.ok(Math.abs(one!.decodeTokensPerS - 40) < 1e-9);
  assert.ok(Math.abs(one!.runDecodeTokensPerSMedian - 40) < 1e-9);
  const rates = [50, 40, 100 / 3];
  const mean = rates.reduce((a, b) => a + b) / 3;
  const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
  const half = 4.302652729911275 * sd / Math.sqrt(3); // t(0.975, 2 df)
  const m = one!.runDecodeTokensPerSMean;
  assert.ok(Math.abs(m.value - mean) < 1e-9);
  assert.ok(Math.abs(m.low - (mean - half)) < 1e-6 && Math.abs(m.high - (mean + half)) < 1e-6);
  assert.equal(m.unit, "tokens/s");
  // 2 threads: 9 tokens in 135 ms; the ratio is 225 / 135 = 5/3 exactly.
  assert.ok(Math.abs(two!.decodeTokensPerS - 200 / 3) < 1e-9);
  assert.equal(c?.fastest, 2);
  assert.equal(c?.best, 2);
  assert.equal(c?.next, 1);
  assert.ok(Math.abs(c!.ratio.value - 5 / 3) < 1e-12);
  assert.ok(c!.ratio.low > 1.02 && c!.ratio.low < 5 / 3 && c!.ratio.high > 5 / 3);
  assert.match(c!.ratio.method, /^Welch t interval on the log ratio over 3 and 3 runs/);
  assert.deepEqual(one?.fastestRatio, c?.ratio);
  assert.equal(two?.fastestRatio.value, 1);
  assert.deepEqual(c!.rows.map((row) => row.tiesFastest), [false, true]);
});

Deno.test("`compareThreads()` counts stalls: a fast median does not hide a slow token", () => {
  // 2 threads: faster runs (10 ms per token) but one 600 ms stall; 1 thread: a steady 20 ms.
  const { runs } = dataset([
    steady(1, 20),
    steady(2, 10),
    steady(1, 20),
    { prompt: "p", threads: 2, latencies: [100, 10, 600, 10] },
    steady(1, 21),
    steady(2, 10),
  ]);
  const [c] = compareThreads(runs);
  const [one, two] = c!.rows;
  assert.ok(two!.runDecodeTokensPerSMedian > one!.runDecodeTokensPerSMedian);
  assert.ok(Math.abs(two!.decodeTokensPerS - 9 / 0.68) < 1e-9);
  assert.equal(c?.fastest, 1);
  assert.equal(c?.best, 1);
  assert.equal(c?.next, 2);
});

Deno.test("`compareThreads()` gives ties to fewer threads: within 2%, or an interval containing 1", () => {
  // 2 threads 1% faster, very steady: within the tolerance.
  const close = dataset([
    steady(1, 20),
    steady(2, 19.8),
    steady(1, 20.01),
    steady(2, 19.81),
    steady(1, 19.99),
    steady(2, 19.79),
  ]);
  const [c] = compareThreads(close.runs);
  assert.equal(c?.fastest, 2);
  assert.equal(c?.best, 1);
  assert.equal(c?.next, 2);
  assert.ok(c!.ratio.value < 1 && c!.ratio.value > 0.98);
  assert.ok(c!.ratio.high < 1, "the interval alone would not call it a tie");
  assert.deepEqual(c!.rows.map((row) => row.tiesFastest), [true, true]);
  // With a zero tolerance the same data name 2 threads.
  assert.equal(compareThreads(close.runs, { tolerance: 0 })[0]?.best, 2);

  // 2 threads 10% faster on the pooled rate, but too noisy to tell: the interval contains 1.
  const noisy = dataset([
    steady(1, 10),
    steady(2, 7),
    steady(1, 30),
    steady(2, 40),
    steady(1, 20),
    steady(2, 7.2),
  ]);
  const [n] = compareThreads(noisy.runs);
  assert.equal(n?.fastest, 2);
  assert.ok(n!.rows[0]!.fastestRatio.value > 1.02);
  assert.ok(n!.rows[0]!.fastestRatio.low < 1);
  assert.equal(n?.best, 1);

  // Three counts: 3 threads fastest, 2 ties with it, 1 is clearly slower: 2 is the pick.
  const three = dataset([1, 2, 3].flatMap((_) => [steady(1, 30), steady(2, 20.1), steady(3, 20)]));
  const [t] = compareThreads(three.runs);
  assert.equal(t?.fastest, 3);
  assert.equal(t?.best, 2);
  assert.equal(t?.next, 3);
  assert.deepEqual(t!.rows.map((row) => row.tiesFastest), [false, true, true]);
  assert.throws(() => compareThreads(three.runs, { tolerance: 1 }), {
    name: "RangeError",
    message: "Cannot compare threads: tolerance must be a number from 0 to below 1, found 1",
  });
});

/** A runs frame with the columns `compareThreads()` reads. */
function runsFrame(rows: { threads: number; prompt: string; out: number; ms: number }[]) {
  return pl.DataFrame({
    warmup: rows.map(() => false),
    prompt_id: rows.map((r) => r.prompt),
    threads: rows.map((r) => r.threads),
    depth_tokens: rows.map(() => 0),
    batch_size: rows.map(() => 512),
    output_tokens: rows.map((r) => r.out),
    decode_ms: rows.map((r) => r.ms),
  });
}

Deno.test("`compareThreads()` ratio interval contains the true ratio, and covers it about 95% of the time", () => {
  // Constructed: run times symmetric around 25 and 15 ms per token: the true ratio is 25 / 15.
  const truth = 25 / 15;
  const exact = runsFrame(
    [0.8, 1, 1.2].flatMap((f) => [
      { threads: 1, prompt: "a", out: 64, ms: 63 * 25 * f },
      { threads: 2, prompt: "a", out: 64, ms: 63 * 15 * (2 - f) },
    ]),
  );
  const [c] = compareThreads(exact);
  assert.ok(Math.abs(c!.ratio.value - truth) < 1e-12);
  assert.ok(c!.ratio.low < truth && truth < c!.ratio.high);

  // Simulated: two prompts of different lengths, 5 runs each per count, 10% normal noise on
  // each run's time (mean 1, so the true ratio stays 25 / 15).
  const rng = new Rng(7);
  const normal = () => rng.normal();
  let covered = 0;
  const trials = 400;
  for (let trial = 0; trial < trials; trial++) {
    const rows = [[1, 25], [2, 15]].flatMap(([threads, perToken]) =>
      Array.from({ length: 5 }).flatMap(() =>
        [["a", 64], ["b", 33]].map(([prompt, out]) => ({
          threads: threads!,
          prompt: String(prompt),
          out: Number(out),
          ms: (Number(out) - 1) * perToken! * (1 + 0.1 * normal()),
        }))
      )
    );
    const e = compareThreads(runsFrame(rows))[0]!.ratio;
    if (e.low <= truth && truth <= e.high) covered++;
  }
  const coverage = covered / trials;
  assert.ok(coverage > 0.91 && coverage < 0.98, `coverage ${coverage}`);
});

Deno.test("`compareThreads()` compares per depth, pools only prompts measured at every count", () => {
  const { runs } = dataset([
    steady(1, 20, "b"),
    steady(2, 10, "b"),
    steady(1, 20, "c"),
    steady(2, 10, "a"),
    steady(1, 20, "a"),
    steady(1, 20, "b"),
    steady(2, 10, "b"),
    { ...steady(1, 10, "a"), depth: 256 },
    { ...steady(2, 20, "a"), depth: 256 },
    { ...steady(1, 10, "a"), depth: 256 },
    { ...steady(2, 20, "a"), depth: 256 },
    { ...steady(1, 10, "a"), depth: 512 }, // one thread count only: no comparison
  ]);
  const comparisons = compareThreads(runs);
  assert.deepEqual(comparisons.map((c) => [c.depthTokens, c.best]), [[0, 2], [256, 1]]);
  assert.deepEqual(comparisons[0]?.promptIds, ["b", "a"], "c ran at 1 thread only");
  assert.deepEqual(
    compareThreads(runs, { promptOrder: ["a", "c"] })[0]?.promptIds,
    ["a", "b"],
    "the order asked for, then first runs",
  );
  assert.equal(comparisons[0]?.balanced, false);
  assert.equal(comparisons[0]?.rows[0]?.runs, 3);
  assert.equal(comparisons[1]?.balanced, true);
  assert.deepEqual(compareThreads(dataset([steady(1, 20), steady(1, 20)]).runs), []);
});

Deno.test("`formatSummary()` shows a Threads block naming the best count when threads vary", () => {
  const { runs, tokens } = dataset([
    steady(1, 20),
    steady(2, 12),
    steady(1, 25),
    steady(2, 15),
    steady(1, 30),
    steady(2, 18),
  ]);
  const summary = summarizeSession({
    sessions: sessions([{ id: "s1", started: "x" }]),
    runs,
    tokens,
  });
  assert.equal(summary.threads.length, 1);
  const text = formatSummary(summary);
  assert.match(text, /^Threads: measured runs of p pooled per thread count$/m);
  assert.match(text, /^\| threads \| runs \| decode tok \| decode tok\/s \(all tokens\) \|/m);
  assert.match(
    text,
    /^\| +1 \| +3 \| +9 \| +40\.0 \| +40\.0 \| .* \| +1\.667 \[[\d.]+-[\d.]+\] \|$/m,
  );
  assert.match(text, /^\| +2 \| +3 \| +9 \| +66\.7 \| .* \| +fastest \|$/m);
  assert.match(
    text,
    /^best: 2 threads, 1\.667x \[[\d.]+-[\d.]+\] the decode rate of the next, 1 thread$/m,
  );
  assert.match(text, /ties with the fastest when the ratio is below 1\.02 or\n/);
  const json = JSON.parse(JSON.stringify(summary));
  assert.equal(json.threads[0].best, 2);
  assert.equal(json.threads[0].rows[1].fastestRatio.value, 1);

  const tie = summarizeSession({
    sessions: sessions([{ id: "s1", started: "x" }]),
    ...dataset([steady(1, 20), steady(2, 19.9), steady(1, 20), steady(2, 19.9)]),
  });
  assert.match(
    formatSummary(tie),
    /^best: 1 thread, tied with the fastest, 2 threads \(0\.995x \[0\.995-0\.995\] its decode rate\); ties go to fewer threads$/m,
  );
  const flat = summarizeSession({
    sessions: sessions([{ id: "s1", started: "x" }]),
    ...dataset([steady(1, 20), steady(1, 20)]),
  });
  assert.deepEqual(flat.threads, []);
  assert.doesNotMatch(formatSummary(flat), /Threads|best:/);
});
