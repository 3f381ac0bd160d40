import assert from "node:assert/strict";
import pl from "nodejs-polars";
import {
  type ColumnType,
  formatSummary,
  SCHEMA,
  summarizeRuns,
  summarizeSession,
  type TableName,
} from "../mod.ts";

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
      threads: 1,
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

Deno.test("`summarizeRuns()` counts stalls against each run's own median", () => {
  const { runs, tokens } = dataset([
    // Median 20 ms: 61 ms is a stall, 60 ms (exactly 3x) is not.
    { prompt: "p", latencies: [500, 20, 20, 20, 20, 60, 61] },
    // Median 100 ms: 250 ms would stall in the first run, not here.
    { prompt: "p", latencies: [500, 100, 100, 100, 250] },
  ]);
  const [p] = summarizeRuns(runs, tokens);
  assert.equal(p?.stalls, 1);
  assert.equal(p?.decodeTokens, 10);
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
