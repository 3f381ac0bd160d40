import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { originalTable, runStory, simulateTrace } from "../../mod.ts";

/** The original write-up's three runs: 30 tokens in 0.548 s, 30 in 0.489 s, 50 in 1.115 s. */
function originalRuns(ttftMs: number[], totalMs: number[], tokens: number[]): pl.DataFrame {
  return pl.DataFrame({
    session_id: ["s", "s", "s"],
    order_index: pl.Series("order_index", [0, 1, 2], pl.Int32),
    prompt_id: ["languages", "count", "explain"],
    warmup: [false, false, false],
    output_tokens: pl.Series("output_tokens", tokens, pl.Int32),
    ttft_ms: ttftMs,
    decode_ms: totalMs.map((t, i) => t - ttftMs[i]!),
  });
}

Deno.test("`originalTable()` rebuilds the three-run table and its naive average", () => {
  const t = originalTable(originalRuns([60, 40, 90], [548, 489, 1115], [30, 30, 50]));
  const e2e = t.rows.getColumn("e2e_tokens_per_s").toArray() as number[];
  assert.deepEqual(e2e.map((v) => v.toFixed(1)), ["54.7", "61.3", "44.8"]);
  assert.equal(t.naiveMeanTokensPerS.toFixed(1), "53.6");
  assert.equal(t.pooledTokensPerS.toFixed(1), "51.1");
  const gaps = t.gaps as pl.DataFrame;
  assert.deepEqual(gaps.select("from", "to").toRecords(), [
    { from: "languages", to: "count" },
    { from: "languages", to: "explain" },
    { from: "count", to: "explain" },
  ]);
  for (const [, , gap, ttft, length, rate] of gaps.rows()) {
    assert.ok(Math.abs(gap - (ttft + length + rate)) < 1e-9);
  }
});

Deno.test("`originalTable()` puts the whole gap on output length at a flat decode rate", () => {
  // same time to first token (100 ms) and decode rate (20 ms per token), 30 vs 50 tokens
  const t = originalTable(
    originalRuns([100, 100, 100], [100 + 29 * 20, 100 + 29 * 20, 100 + 49 * 20], [30, 30, 50]),
    { promptIds: ["count", "explain"] },
  );
  const [from, to, gap, ttft, length, rate] = (t.gaps as pl.DataFrame).row(0);
  assert.deepEqual([from, to], ["count", "explain"]);
  assert.ok(gap > 2, "50 tokens amortise the first token better");
  assert.ok(Math.abs(ttft) < 1e-12 && Math.abs(rate) < 1e-12);
  assert.ok(Math.abs(length - gap) < 1e-12);
});

Deno.test("`originalTable()` rejects a prompt without runs", () => {
  assert.throws(
    () =>
      originalTable(originalRuns([1, 1, 1], [10, 10, 10], [2, 2, 2]), { promptIds: ["missing"] }),
    new RangeError('Cannot build the table: prompt "missing" must have a run, found none'),
  );
});

Deno.test("`runStory()` shows e2e speed moving with length at a flat decode rate", () => {
  const prompts = [
    { id: "short-out", class: "simple", promptTokens: 20, maxTokens: 10 },
    { id: "long-out", class: "simple", promptTokens: 20, maxTokens: 60 },
    { id: "long-prompt", class: "simple", promptTokens: 400, maxTokens: 30 },
  ];
  const story = runStory(
    simulateTrace({ prompts, repetitions: 6, prefillBaseMs: 60, stallProbability: 0 }),
  );
  assert.equal(story.runs, 18);
  assert.ok(story.e2e.per10OutputTokens.low > 0, JSON.stringify(story.e2e.per10OutputTokens));
  assert.ok(story.e2e.per100PromptTokens.high < 0, JSON.stringify(story.e2e.per100PromptTokens));
  const flat = story.decode.per10OutputTokens;
  assert.ok(flat.low < 0 && 0 < flat.high, JSON.stringify(flat));
  assert.ok(story.e2e.per10OutputTokens.value > 1);
  assert.ok(story.ttftPerPromptTokenMs.low < 0.4 && 0.4 < story.ttftPerPromptTokenMs.high);
  assert.ok(story.constantRateR2Pct > 95);
  assert.equal(story.table.height, 18);
});
