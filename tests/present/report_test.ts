import assert from "node:assert/strict";
import { join } from "node:path";
import pl from "nodejs-polars";
import { type AnalyzeOptions, analyzeTrace } from "../../lib/analysis/analyze.ts";
import { readDataset } from "../../lib/dataset/read.ts";
import { DatasetWriter } from "../../lib/dataset/writer.ts";
import { detectStalls } from "../../lib/analysis/stalls.ts";
import { type SimulateOptions, simulateTrace } from "../../lib/simulate/simulate.ts";
import { checkOriginalClaims, ORIGINAL_RUNS } from "../../lib/present/claims.ts";
import { htmlTable } from "../../lib/present/html.ts";
import { renderReport, reportCharts } from "../../lib/present/report.ts";
import { reportMain } from "../../lib/cli/report.ts";
import type { SessionInfo } from "../../lib/tracer/source.ts";
import { countColor, decodePng, findChromium, screenshot } from "../_chromium.ts";

// Few resamples: these tests check the page, not the statistics.
const FAST: AnalyzeOptions = {
  slowdown: { resamples: 200 },
  variance: { resamples: 20 },
  promptClass: { permutations: 99, resamples: 200 },
  tokenContent: { permutations: 19, resamples: 20 },
  stalls: { resamples: 100 },
};

/** A simulated trace of the three original prompts and one matched simple/complex pair. */
function originalTrace(options: SimulateOptions = {}) {
  return simulateTrace({
    prompts: [
      ...ORIGINAL_RUNS.map((r, i) => ({
        id: r.promptId,
        class: i === 2 ? "complex" : "simple",
        promptTokens: 16 + i,
        maxTokens: r.outputTokens,
      })),
      { id: "simple-32", class: "simple", promptTokens: 44, maxTokens: 30 },
      { id: "complex-32", class: "complex", promptTokens: 44, maxTokens: 30 },
    ],
    repetitions: 4,
    ...options,
  });
}

/** Writes a simulated trace as a dataset directory with the dataset writer. */
async function writeDataset(dir: string, trace: ReturnType<typeof simulateTrace>): Promise<void> {
  const session = trace.sessions.toRecords()[0] as Record<string, unknown>;
  const own = new Set(["session_id", "schema_version", "tool_version", "status", "started_at_utc"]);
  ["finished_at_utc", "suite", "seed", "plan_json"].forEach((k) => own.add(k));
  const info = Object.fromEntries(
    Object.entries(session).filter(([k]) => !own.has(k)),
  ) as unknown as SessionInfo;
  const writer = await DatasetWriter.create(dir, info, { suite: "simulated" });
  for (const run of trace.runs.toRecords()) {
    const t = (trace.tokens as pl.DataFrame).filter(
      pl.col("run_id").eq(pl.lit(String(run.run_id))),
    );
    const column = <T>(name: string) => t.getColumn(name).toArray() as T[];
    const { session_id: _s, run_id: _r, ...record } = run;
    await writer.writeRun(record as never, {
      token_index: Int32Array.from(column<number>("token_index")),
      position: Int32Array.from(column<number>("position")),
      phase: column<string>("phase"),
      token_id: Int32Array.from(column<number>("token_id")),
      piece: column<string>("piece"),
      piece_bytes: Int32Array.from(column<number>("piece_bytes")),
      t_ms: Float64Array.from(column<number>("t_ms")),
      latency_ms: Float64Array.from(column<number>("latency_ms")),
      chunk_tokens: Int32Array.from(column<number>("chunk_tokens")),
    });
  }
  await writer.finish("complete");
}

Deno.test("`htmlTable()` escapes text, keeps integers whole and rounds other numbers", () => {
  const html = htmlTable([{ a: "<b>", n: 1200, x: 3.14159 }], [
    { key: "a", label: "A & B" },
    { key: "n", label: "n" },
    { key: "x", label: "x" },
  ]);
  assert.match(html, /<th>A &amp; B<\/th>/);
  assert.match(html, /<td>&lt;b&gt;<\/td><td class="num">1,200<\/td><td class="num">3\.14<\/td>/);
});

Deno.test("`renderReport()` writes a self-contained page with six inline charts and the original table", () => {
  const html = renderReport(originalTrace(), { source: "sim<1>", analyze: FAST });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.equal(html.match(/<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/g)?.length, 6);
  assert.match(html, /Dataset <code>sim&lt;1&gt;<\/code>/);
  for (const run of ORIGINAL_RUNS) assert.ok(html.includes(`${run.label}: ${run.prompt}`));
  // Nothing to fetch: no scripts, links, images or URLs other than the SVG namespace.
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
  assert.deepEqual([...new Set(html.match(/https?:\/\/[^"'\s)]+/g))], [
    "http://www.w3.org/2000/svg",
  ]);
  assert.match(html, /The model is synthetic/);
});

Deno.test("`renderReport()` says when the original prompts are missing", () => {
  const html = renderReport(simulateTrace({ repetitions: 3 }), { analyze: FAST });
  assert.match(html, /does not hold all three original prompts/);
  assert.equal(html.match(/<svg /g)?.length, 6);
});

Deno.test("`checkOriginalClaims()` follows the injected effects", () => {
  const claims = (options: SimulateOptions) =>
    Object.fromEntries(
      checkOriginalClaims(analyzeTrace(originalTrace(options), {
        ...FAST,
        originalPromptIds: ORIGINAL_RUNS.map((r) => r.promptId),
      })).map((c, i) => [i, c.verdict]),
    );
  // A steep slope: 200 µs per token on 20 ms is 10% per 10 tokens, above the claimed 1-2%.
  const steep = claims({ slopeUsPerToken: 200, classOffsetsUs: { complex: 2000 }, noiseSdMs: 0.3 });
  assert.equal(steep[0], "understated");
  assert.equal(steep[1], "supported");
  assert.equal(steep[3], "supported");
  assert.equal(steep[4], "misleading");
  // No slope and no class effect: neither story holds.
  const flat = claims({ slopeUsPerToken: 0, classOffsetsUs: {}, noiseSdMs: 0.3 });
  assert.notEqual(flat[0], "consistent");
  assert.equal(flat[1], "not supported");
  assert.equal(flat[2], "not supported");
});

Deno.test("`reportCharts()` marks the stalls of the one stall rule in the timeline", async () => {
  const simulated = simulateTrace({ repetitions: 3, stallProbability: 0.02, stallMs: 200 });
  const sample = await readDataset(new URL("../../data/sample-trace", import.meta.url).pathname);
  for (const trace of [simulated, sample]) {
    const analysis = analyzeTrace(trace, FAST);
    const charts = reportCharts(trace, analysis);
    const stallDots = charts.timeline.match(/<circle fill="#d62728" r="3"/g)?.length ?? 0;
    // the timeline draws warm-up runs too; the report's count is over measured runs
    const all = detectStalls(trace, { resamples: 10, includeWarmup: true }).stalls;
    assert.ok(analysis.stalls.stalls > 0);
    assert.equal(stallDots, all);
    assert.match(
      renderReport(trace, { analyze: FAST }),
      new RegExp(`>${analysis.stalls.stalls} of `),
    );
  }
});

Deno.test("`tokentrace report` writes the page, and exits 2 on a bad dataset or option", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-report-" });
  try {
    await writeDataset(join(dir, "data"), originalTrace({ repetitions: 2 }));
    const out = join(dir, "out", "report.html");
    assert.equal(await reportMain([join(dir, "data"), "--out", out, "--seed", "3"]), 0);
    assert.match(await Deno.readTextFile(out), /<h2>1\. The slowdown curve<\/h2>/);
    assert.equal(await reportMain([join(dir, "missing")]), 2);
    assert.equal(await reportMain(["--out", out]), 2);
    assert.equal(await reportMain([join(dir, "data"), "--bandwidth-gbps", "-1"]), 2);
    await Deno.mkdir(join(dir, "empty"));
    assert.equal(await reportMain([join(dir, "empty")]), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the report's charts are drawn in headless Chromium", async () => {
  const chromium = await findChromium();
  assert.ok(
    chromium !== undefined,
    "Cannot check the report in a browser: no chromium found; run `apt-get install -y --no-install-recommends chromium`",
  );
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-report-" });
  try {
    const html = join(dir, "report.html");
    await Deno.writeTextFile(html, renderReport(originalTrace(), { analyze: FAST }));
    const png = await screenshot(chromium, html, join(dir, "report.png"), {
      width: 1000,
      height: 5000,
    });
    const image = await decodePng(png);
    assert.equal(image.width, 1000);
    // Chart marks in the plots' blue (fit line, bars, dots) and red (e2e dots, stalls).
    assert.ok(countColor(image, "#4e79a7") > 2000, "the charts' blue marks are drawn");
    assert.ok(countColor(image, "#e15759") > 100, "the run-rate chart's red dots are drawn");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
