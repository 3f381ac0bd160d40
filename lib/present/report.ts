/**
 * The HTML write-up of a trace: every finding of `analyzeTrace()` with its interval, the
 * report's charts inline as SVG, and the original three-run write-up checked claim by claim
 * (`claims.ts`). The page is one self-contained file: no scripts, fonts or images to fetch.
 *
 * Folder `lib/present/`: summaries, charts and the HTML report. May import: compare, analysis,
 * experiment, gguf, schema, stats.
 *
 * @module
 */

import pl from "nodejs-polars";
import { type AnalyzeOptions, analyzeTrace, type TraceAnalysis } from "../analysis/analyze.ts";
import { describeFindings, formatNumber } from "../analysis/describe.ts";
import { flagStalls } from "../analysis/_stall_rule.ts";
import type { ModelGeometry } from "../analysis/physics.ts";
import type { Trace, TraceTable } from "../analysis/types.ts";
import type { Frame } from "../schema/frame.ts";
import type { GgufInfo } from "../gguf/reader.ts";
import type { SessionComparison } from "../compare/types.ts";
import { checkOriginalClaims, ci, ORIGINAL_RUNS, originalIdsIn } from "./claims.ts";
import { comparisonSection } from "./_comparison_section.ts";
import { escapeHtml, figure, htmlTable } from "./html.ts";
import { type ChartOptions, plotNote } from "./plots.ts";
import {
  plotLatencyByGroup,
  plotSlowdown,
  plotTimeline,
  type TimelinePoint,
} from "./plots_latency.ts";
import { plotEffects, plotRunRates, plotVarianceShares, type RunRate } from "./plots_rows.ts";

/** The charts of a report, each a standalone SVG string. */
export interface ReportCharts {
  /** Decode latency by generated-token index, with the fitted line, its band and the windows. */
  readonly slowdown: string;
  /** Decode latency distribution by prompt class. */
  readonly latencyByClass: string;
  /** Token-content effects with intervals. */
  readonly tokenContent: string;
  /** Every token over session time: warm-up, stalls and each run's median. */
  readonly timeline: string;
  /** Shapley shares of the variance of decode latency, with intervals. */
  readonly varianceShares: string;
  /** End-to-end against decode tokens/s for each run (or each prompt, above 60 runs). */
  readonly runRates: string;
}

/** Options of {@linkcode renderReport}. */
export interface RenderReportOptions {
  /** Page title. @default "tokentrace report" */
  title?: string;
  /** Where the trace came from (a dataset path), shown under the title. @default "" */
  source?: string;
  /**
   * Options of `analyzeTrace()`; `originalPromptIds` defaults to the ids of
   * {@linkcode ORIGINAL_RUNS} when the trace has all three.
   * @default {}
   */
  analyze?: AnalyzeOptions;
  /**
   * A `compareSessions()` result to show as a comparison section (baseline against
   * candidate) with its chart; none when unset.
   * @default undefined
   */
  comparison?: SessionComparison;
}

const GENERATED_TOKEN_LABEL = "generated token index (position after the prompt)";

/** A trace table as a nodejs-polars DataFrame (what every table is at run time). */
function collect(table: TraceTable): pl.DataFrame {
  return ("collectSync" in table ? table.collectSync() : table) as pl.DataFrame;
}

/**
 * The KV-cache geometry of a model, for the physics check: KV heads per layer (0 for the
 * layers without a cache, such as LFM2's short-convolution layers), the head dimension
 * (embedding length / heads) and 2 bytes per cached element (llama.cpp's default F16 cache).
 *
 * @param info The model's GGUF header, from `readGguf()`.
 * @returns The geometry `physicsCheck()` takes.
 * @throws {RangeError} When the header lacks the block count, head counts or embedding length.
 *
 * @example LFM2's attention layers
 * ```ts ignore
 * // Needs a model file: `deno task synth` writes data/models/lfm2-350m-q8_0.gguf.
 * import { modelGeometry, readGguf } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const geometry = modelGeometry(await readGguf("data/models/lfm2-350m-q8_0.gguf"));
 * assert.equal(geometry.kvHeadsPerLayer.filter((h) => h > 0).length, 6);
 * assert.equal(geometry.headDim, 64);
 * ```
 */
export function modelGeometry(info: GgufInfo): ModelGeometry {
  const { blockCount, headCount, headCountKv, embeddingLength, layerKinds } = info;
  if (!blockCount || !headCount || !headCountKv || !embeddingLength) {
    throw new RangeError(
      `Cannot size the KV cache of "${info.path}": block count, head counts and embedding length must be set, found ${blockCount}, ${headCount}, ${headCountKv} and ${embeddingLength}`,
    );
  }
  return {
    kvHeadsPerLayer: layerKinds
      ? layerKinds.map((kind) => (kind === "attention" ? headCountKv : 0))
      : Array.from({ length: blockCount }, () => headCountKv),
    headDim: embeddingLength / headCount,
    kvBytesPerElement: 2,
  };
}

/**
 * Draws the report's charts for a trace and its analysis: the slowdown curve, latency by
 * prompt class, token-content effects, the session timeline, the variance shares and the
 * e2e-versus-decode rates.
 *
 * @param trace The trace the analysis ran on.
 * @param analysis The result of `analyzeTrace()` on that trace.
 * @param options Chart width (heights follow the content).
 * @returns One SVG string per chart.
 *
 * @example Charts of a simulated trace
 * ```ts
 * import { analyzeTrace, reportCharts, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const trace = simulateTrace({ repetitions: 3 });
 * const analysis = analyzeTrace(trace, {
 *   slowdown: { resamples: 100 },
 *   variance: { resamples: 20 },
 *   promptClass: { permutations: 99, resamples: 100 },
 *   tokenContent: { permutations: 19, resamples: 20 },
 *   stalls: { resamples: 100 },
 * });
 * const charts = reportCharts(trace, analysis);
 * assert.match(charts.slowdown, /^<svg /);
 * assert.match(charts.latencyByClass, />complex</);
 * ```
 */
export function reportCharts(
  trace: Trace,
  analysis: TraceAnalysis,
  options: Pick<ChartOptions, "width"> = {},
): ReportCharts {
  const { width = 640 } = options;
  const runs = collect(trace.runs).select(
    "run_id",
    "session_id",
    "prompt_id",
    "prompt_class",
    "warmup",
    "started_at_ms",
  );
  const tokens = collect(trace.tokens)
    .select("run_id", "token_index", "t_ms", "latency_ms")
    .filter(pl.col("token_index").gtEq(1))
    .join(runs, { on: "run_id" });
  const col = <T>(frame: Frame, name: string): T[] => frame.getColumn(name).toArray() as T[];

  // Slowdown: tokens of the runs in the fit, the fitted line from the start of decode.
  const s = analysis.slowdown;
  const measured = tokens.filter(pl.col("warmup").not());
  const index = col<number>(measured, "token_index");
  const latency = col<number>(measured, "latency_ms");
  const lastIndex = Math.max(1, ...index);
  const b = s.slopeUsPerToken, a = s.startLatencyMs;
  const fit = [1, lastIndex].map((k) => ({
    position: k,
    value: a.value + (b.value * (k - 1)) / 1000,
    low: a.low + (b.low * (k - 1)) / 1000,
    high: a.high + (b.high * (k - 1)) / 1000,
  }));
  const windows = s.windows
    .filter((w) => Number.isFinite(w.meanLatencyMs.value) && Number.isFinite(w.meanLatencyMs.low))
    .map((w) => ({
      first: w.firstToken,
      last: Math.min(w.lastToken, lastIndex),
      value: w.meanLatencyMs.value,
      low: w.meanLatencyMs.low,
      high: w.meanLatencyMs.high,
    }));
  const slowdown = plotSlowdown({
    points: index.map((position, i) => ({ position, latencyMs: latency[i]! })),
    fit: Number.isFinite(a.low) && Number.isFinite(b.low) ? fit : [],
    windows,
  }, { width, xLabel: GENERATED_TOKEN_LABEL });

  const classes = col<string>(measured, "prompt_class");
  const latencyByClass = plotLatencyByGroup(
    classes.map((group, i) => ({ group, latencyMs: latency[i]! })),
    { width },
  );

  const effects = analysis.tokenContent.effects
    .filter((e) => [e.effectUs.value, e.effectUs.low, e.effectUs.high].every(Number.isFinite))
    .map((e) => ({
      label: e.label,
      value: e.effectUs.value,
      low: e.effectUs.low,
      high: e.effectUs.high,
    }));
  const tokenContent = effects.length > 0
    ? plotEffects(effects, { width, valueLabel: "effect on decode latency (µs)" })
    : plotNote("No token-content effect could be estimated with an interval", { width });

  // Timeline: time in session of every decode token; a stall by the one stall rule.
  const startMs = col<number>(tokens, "started_at_ms");
  const tMs = col<number>(tokens, "t_ms");
  const allLatency = col<number>(tokens, "latency_ms");
  const runIds = col<string>(tokens, "run_id");
  const runIndex = new Map<string, number>();
  for (const id of runIds) if (!runIndex.has(id)) runIndex.set(id, runIndex.size);
  const { flags } = flagStalls(allLatency, runIds.map((id) => runIndex.get(id)!), {
    threshold: analysis.stalls.threshold,
    runs: runIndex.size,
  });
  const warmup = col<boolean>(tokens, "warmup");
  const points: TimelinePoint[] = allLatency.map((latencyMs, i) => ({
    timeS: (startMs[i]! + tMs[i]!) / 1000,
    latencyMs,
    warmup: warmup[i]!,
    stall: flags[i] === 1,
  })).filter((p) => p.latencyMs > 0);
  const drift = analysis.drift;
  const trend = drift !== null && analysis.sessions === 1
    ? col<number>(drift.timeline, "started_at_ms").map((t, i) => ({
      timeS: t / 1000,
      latencyMs: col<number>(drift.timeline, "median_latency_ms")[i]!,
    }))
    : [];
  const timeline = plotTimeline({ points, trend }, { width, trendLabel: "run median" });

  const v = analysis.variance;
  const varianceShares = plotVarianceShares([
    ...v.groups.map((g) => ({
      factor: g.label.replace(/ \(.*\)$/, ""),
      share: clamp01(g.share.value / 100),
      low: clamp01(g.share.low / 100),
      high: clamp01(g.share.high / 100),
    })),
    {
      factor: "residual",
      share: clamp01(v.residual.value / 100),
      low: clamp01(v.residual.low / 100),
      high: clamp01(v.residual.high / 100),
    },
  ], { width });

  return {
    slowdown,
    latencyByClass,
    tokenContent,
    timeline,
    varianceShares,
    runRates: plotRunRates(runRateRows(analysis), { width }),
  };
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

/** One row per run (labelled `prompt #k`), or per prompt above 60 runs. */
function runRateRows(analysis: TraceAnalysis): RunRate[] {
  const table = analysis.runStory?.table;
  if (table === undefined) {
    return analysis.originalTable.rows.toRecords().map((row) => ({
      label: String(row.prompt_id),
      e2eTokensPerS: Number(row.e2e_tokens_per_s),
      decodeTokensPerS: Number(row.decode_tokens_per_s),
    }));
  }
  const rows = table.toRecords();
  const prompts = [...new Set(rows.map((row) => String(row.prompt_id)))];
  if (rows.length > 60) {
    return prompts.map((prompt) => {
      const mine = rows.filter((row) => row.prompt_id === prompt);
      const mean = (key: string) =>
        mine.reduce((sum, row) => sum + Number(row[key]), 0) / mine.length;
      return {
        label: `${prompt} (${mine.length} runs)`,
        e2eTokensPerS: mean("e2e_tokens_per_s"),
        decodeTokensPerS: mean("decode_tokens_per_s"),
      };
    });
  }
  return prompts.flatMap((prompt) =>
    rows.filter((row) => row.prompt_id === prompt).map((row, k) => ({
      label: `${prompt} #${k + 1}`,
      e2eTokensPerS: Number(row.e2e_tokens_per_s),
      decodeTokensPerS: Number(row.decode_tokens_per_s),
    }))
  );
}

const STYLE = `
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fff; margin: 0; }
main { max-width: 860px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; font-size: 13px; }
.note { background: #fff7e6; border-left: 3px solid #f28e2b; padding: 6px 10px; }
figure { margin: 16px 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.claims td:nth-child(2) { font-weight: 600; white-space: nowrap; }
`;

/** Where a session's tokens came from: `in-process (engine version)` or `endpoint url (...)`. */
function sourceText(r: Record<string, unknown>): string {
  const engine = [r.engine_name, r.engine_version].filter((v) => v).join(" ");
  const where = r.source === "endpoint" ? `source endpoint ${r.endpoint_url}` : "source in-process";
  return engine === "" ? where : `${where} (${engine})`;
}

function sessionLines(sessions: pl.DataFrame): string {
  return sessions.toRecords().map((row) => {
    const r = row as Record<string, unknown>;
    const model = `${r.model_name} (${r.model_architecture}, ${r.model_quantization}, ${
      formatNumber(Number(r.model_parameters) / 1e6)
    } M parameters${
      r.model_synthetic ? `, synthetic: random weights, preset ${r.model_preset}` : ""
    })`;
    return `<li>Session <code>${escapeHtml(String(r.session_id))}</code> (${
      escapeHtml(String(r.status))
    }, ${escapeHtml(String(r.started_at_utc))}): ${escapeHtml(model)} on ${
      escapeHtml(String(r.cpu_model))
    }, ${r.cpu_cores} cores, ${escapeHtml(sourceText(r))}, backend ${
      escapeHtml(String(r.backend || "not reported"))
    }, ${r.threads ?? "not reported"} threads; tokentrace ${
      escapeHtml(String(r.tool_version))
    }, node-llama-cpp ${escapeHtml(String(r.node_llama_cpp_version))}, ${
      escapeHtml(String(r.runtime_version))
    }; suite ${escapeHtml(String(r.suite) || "none")}.</li>`;
  }).join("\n");
}

/**
 * Renders the HTML write-up of a trace: what was measured, every finding with its interval,
 * the charts inline as SVG, and the original write-up's claims checked one by one. The page
 * is self-contained (no scripts or external assets), so it can be mailed or archived as is.
 *
 * @param trace The dataset tables, e.g. from `readDataset()` or `simulateTrace()`.
 * @param options Title, source label and analysis options.
 * @returns The HTML document.
 * @throws {RangeError} When no run has decode tokens.
 *
 * @example Render a simulated trace
 * ```ts
 * import { renderReport, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const html = renderReport(simulateTrace({ repetitions: 3 }), {
 *   source: "simulated",
 *   analyze: {
 *     slowdown: { resamples: 100 },
 *     variance: { resamples: 20 },
 *     promptClass: { permutations: 99, resamples: 100 },
 *     tokenContent: { permutations: 19, resamples: 20 },
 *     stalls: { resamples: 100 },
 *   },
 * });
 * assert.match(html, /^<!DOCTYPE html>/);
 * assert.equal(html.match(/<svg /g)?.length, 6);
 * ```
 */
export function renderReport(trace: Trace, options: RenderReportOptions = {}): string {
  const { title = "tokentrace report", source = "", analyze = {}, comparison } = options;
  const originalIds = originalIdsIn(collect(trace.runs));
  const analysis = analyzeTrace(trace, {
    ...(originalIds ? { originalPromptIds: originalIds } : {}),
    ...analyze,
  });
  const charts = reportCharts(trace, analysis, { width: 820 });
  const findings = new Map(describeFindings(analysis).map((f) => [f.id, f.sentence]));
  const say = (...ids: string[]): string =>
    ids.filter((id) => findings.has(id)).map((id) => `<p>${escapeHtml(findings.get(id)!)}</p>`)
      .join("\n");
  const sessions = collect(trace.sessions);
  const synthetic = (sessions.getColumn("model_synthetic").toArray() as boolean[]).some(Boolean);
  const s = analysis.slowdown;

  const parts: string[] = [];
  parts.push(`<h1>${escapeHtml(title)}</h1>`);
  parts.push(
    `<p class="meta">${
      source ? `Dataset <code>${escapeHtml(source)}</code>: ` : ""
    }${analysis.sessions} session(s), ${analysis.runs} runs (${analysis.warmupRuns} warm-up), ${
      analysis.tokens.toLocaleString("en-US")
    } decode tokens. Every interval is a 95% interval; every resampling is seeded.</p>`,
  );
  parts.push(`<ul class="meta">\n${sessionLines(sessions)}\n</ul>`);
  if (synthetic) {
    parts.push(
      `<p class="note">The model is synthetic: a real architecture's geometry with random weights. Its text is meaningless; its compute per token, and so every timing here, is real.</p>`,
    );
  }

  parts.push(`<h2>The original claims, checked</h2>`);
  parts.push(
    `<p>The write-up that started this project explained three runs (54.7, 61.3 and 44.8 tokens/s) with six stories. Each one, against this dataset:</p>`,
  );
  parts.push(
    `<div class="claims">${
      htmlTable(checkOriginalClaims(analysis).map((c) => ({ ...c })), [
        { key: "claim", label: "claim" },
        { key: "verdict", label: "verdict" },
        { key: "evidence", label: "what the data say" },
      ])
    }</div>`,
  );

  parts.push(`<h2>1. The slowdown curve</h2>`);
  parts.push(
    `<p>Each decode token's latency against the number of tokens its run had generated. The blue line is latency = a<sub>run</sub> + b × position fitted within runs (runs are the independent units); its band combines the intervals of the start-of-decode latency and of b, a conservative 95% band. The orange boxes are the mean latency over the original write-up's windows with their intervals.</p>`,
  );
  parts.push(
    figure(
      charts.slowdown,
      `Decode latency by generated-token index: ${s.runs} runs, ${s.tokens} tokens.`,
    ),
  );
  parts.push(say("slope", "slowdown", "position-vs-drift"));
  parts.push(htmlTable(
    s.windows.map((w) => ({
      window: `${w.firstToken}-${w.lastToken}`,
      runs: w.runs,
      tokens: w.tokens,
      latency: ci(w.meanLatencyMs),
      rate: ci(w.tokensPerS),
    })),
    [
      { key: "window", label: "generated tokens" },
      { key: "runs", label: "runs" },
      { key: "tokens", label: "tokens" },
      { key: "latency", label: "mean latency" },
      { key: "rate", label: "rate" },
    ],
  ));
  parts.push(
    `<p class="meta">Window intervals: ${
      escapeHtml(s.windows[0]?.meanLatencyMs.method ?? "")
    }.</p>`,
  );
  parts.push(say("depth"));

  parts.push(`<h2>2. What explains the variance</h2>`);
  parts.push(figure(
    charts.varianceShares,
    `Shares of the variance of decode latency: Shapley decomposition of R² (bars) with 95% intervals (lines).`,
  ));
  parts.push(say("variance"));
  parts.push(
    figure(
      charts.latencyByClass,
      `Decode latency by prompt class (box: quartiles; whiskers: 1.5 IQR).`,
    ),
  );
  parts.push(say("prompt-class"));
  parts.push(figure(
    charts.tokenContent,
    `Token-content effects on decode latency with 95% intervals, position and run held fixed.`,
  ));
  parts.push(say("token-content"));

  parts.push(`<h2>3. Runs: time to first token against decode rate</h2>`);
  parts.push(figure(
    charts.runRates,
    `End-to-end tokens/s (time to first token included) and decode tokens/s of each measured run.`,
  ));
  parts.push(say("run-story"));
  if (originalIds) {
    const rows = analysis.originalTable.rows.toRecords();
    parts.push(
      `<p>The original three runs next to the same prompts and token budgets measured here (means over each prompt's runs):</p>`,
    );
    parts.push(htmlTable(
      ORIGINAL_RUNS.map((o, i) => {
        const m = rows[i] ?? {};
        return {
          run: `${o.label}: ${o.prompt}`,
          tokens: o.outputTokens,
          reported: o.tokensPerS,
          runs: m.runs,
          e2e: m.e2e_tokens_per_s,
          ttft: m.ttft_ms,
          decode: m.decode_tokens_per_s,
        };
      }),
      [
        { key: "run", label: "original run" },
        { key: "tokens", label: "tokens" },
        { key: "reported", label: "reported t/s", decimals: 1 },
        { key: "runs", label: "runs here" },
        { key: "e2e", label: "e2e t/s here", decimals: 1 },
        { key: "ttft", label: "TTFT ms here" },
        { key: "decode", label: "decode t/s here", decimals: 1 },
      ],
    ));
  } else {
    parts.push(
      `<p>This dataset does not hold all three original prompts (${
        ORIGINAL_RUNS.map((r) => r.promptId).join(", ")
      }), so the original table is not rebuilt.</p>`,
    );
  }
  parts.push(say("original-table"));

  parts.push(`<h2>4. Stalls, warm-up and drift</h2>`);
  parts.push(figure(charts.timeline, `Every decode token over session time (log scale).`));
  parts.push(say("stalls", "autocorrelation", "warmup", "drift"));

  parts.push(`<h2>5. Physics check</h2>`);
  parts.push(
    findings.has("physics")
      ? say("physics")
      : `<p>Not run: it needs the machine's memory bandwidth and the model file (<code>deno task report &lt;dataset&gt; --bandwidth-gbps &lt;GB/s&gt;</code>).</p>`,
  );

  if (comparison) parts.push(comparisonSection(comparison));

  if (analysis.notes.length > 0) {
    parts.push(`<h2>Notes</h2>`);
    parts.push(`<ul>\n${analysis.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("\n")}\n</ul>`);
  }

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${parts.join("\n")}
</main>
</body>
</html>
`;
}
