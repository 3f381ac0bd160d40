/**
 * The HTML write-up of a trace: every finding of `analyzeTrace()` with its interval, the
 * charts of `lib/plots.ts` inline as SVG, and the original three-run write-up checked claim
 * by claim. The page is one self-contained file: no scripts, fonts or images to fetch.
 *
 * @module
 */

import pl from "nodejs-polars";
import { type AnalyzeOptions, analyzeTrace, type TraceAnalysis } from "../analysis/analyze.ts";
import { describeFindings, formatNumber } from "../analysis/describe.ts";
import { flagStalls } from "../analysis/_stall_rule.ts";
import type { ModelGeometry } from "../analysis/physics.ts";
import type { Estimate, Trace, TraceTable } from "../analysis/types.ts";
import type { Frame } from "../schema/frame.ts";
import type { GgufInfo } from "../gguf/gguf.ts";
import { COMPARE_METRICS, type SessionComparison } from "../compare/compare.ts";
import { plotComparison } from "./plots.ts";
import {
  type ChartOptions,
  plotEffects,
  plotLatencyByGroup,
  plotNote,
  plotRunRates,
  plotSlowdown,
  plotTimeline,
  plotVarianceShares,
  type RunRate,
  type TimelinePoint,
} from "./plots.ts";

/** One run of the write-up that started the project. */
export interface OriginalRun {
  /** The write-up's name for the run. */
  readonly label: string;
  /** The default suite's id of the same prompt. */
  readonly promptId: string;
  /** The prompt text. */
  readonly prompt: string;
  /** Tokens generated. */
  readonly outputTokens: number;
  /** Wall time of the run, in seconds. */
  readonly seconds: number;
  /** The rate it reported: tokens over wall time, tokens/s. */
  readonly tokensPerS: number;
}

/**
 * The three runs of the original write-up (54.7, 61.3 and 44.8 tokens/s, "~54 t/s on
 * average"). The write-up names the two simple prompts of tests 1 and 2 together without
 * saying which was which; this table assumes the order in which it lists them.
 *
 * @example The naive average the write-up reported
 * ```ts
 * import { ORIGINAL_RUNS } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const mean = ORIGINAL_RUNS.reduce((s, r) => s + r.tokensPerS, 0) / ORIGINAL_RUNS.length;
 * assert.equal(mean.toFixed(1), "53.6");
 * ```
 */
export const ORIGINAL_RUNS: readonly OriginalRun[] = [
  {
    label: "Test 1",
    promptId: "list-languages",
    prompt: "List 10 programming languages",
    outputTokens: 30,
    seconds: 0.548,
    tokensPerS: 54.7,
  },
  {
    label: "Test 2",
    promptId: "count-to-10",
    prompt: "Count 1 to 10",
    outputTokens: 30,
    seconds: 0.489,
    tokensPerS: 61.3,
  },
  {
    label: "Test 3",
    promptId: "explain-ml-50-words",
    prompt: "Explain machine learning in exactly 50 words",
    outputTokens: 50,
    seconds: 1.115,
    tokensPerS: 44.8,
  },
];

/**
 * A verdict on a claim: `supported` or `not supported` by an interval or a test;
 * `consistent` when a claimed range overlaps an interval that excludes zero; `unclear` when
 * the interval holds both the claim and no effect; `overstated` or `understated` when the
 * whole interval lies below or above the claim; `misleading` for arithmetic that answers
 * another question; `not testable` when the dataset lacks what the test needs.
 */
export type ClaimCheckVerdict =
  | "supported"
  | "not supported"
  | "consistent"
  | "unclear"
  | "overstated"
  | "understated"
  | "misleading"
  | "not testable";

/** One claim of the original write-up, and what the data say about it. */
export interface ClaimCheck {
  /** The claim, quoted or closely paraphrased. */
  readonly claim: string;
  /** The verdict. */
  readonly verdict: ClaimCheckVerdict;
  /** The numbers behind the verdict, each with its interval. */
  readonly evidence: string;
}

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

/** One column of {@linkcode htmlTable}. */
export interface TableColumn {
  /** Key of the value in each row. */
  readonly key: string;
  /** Column header. */
  readonly label: string;
  /** Decimals for numbers; automatic (3 significant digits) when absent. */
  readonly decimals?: number;
}

const GENERATED_TOKEN_LABEL = "generated token index (position after the prompt)";

/** A trace table as a nodejs-polars DataFrame (what every table is at run time). */
function collect(table: TraceTable): pl.DataFrame {
  return ("collectSync" in table ? table.collectSync() : table) as pl.DataFrame;
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function cell(value: unknown, decimals: number | undefined): string {
  if (typeof value === "number") {
    return decimals === undefined && Number.isInteger(value)
      ? value.toLocaleString("en-US")
      : formatNumber(value, decimals);
  }
  if (typeof value === "bigint") return value.toString();
  return escapeHtml(String(value ?? ""));
}

/**
 * Renders rows as an HTML table: numbers right-aligned and formatted with
 * `formatNumber()`, text escaped.
 *
 * @param rows The rows, e.g. `frame.toRecords()`.
 * @param columns The columns to show, in order.
 * @returns The `<table>` element as a string.
 *
 * @example A two-row table
 * ```ts
 * import { htmlTable } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const html = htmlTable([{ id: "a<b", rate: 54.71 }, { id: "c", rate: 61.3 }], [
 *   { key: "id", label: "prompt" },
 *   { key: "rate", label: "tokens/s", decimals: 1 },
 * ]);
 * assert.match(html, /<td>a&lt;b<\/td><td class="num">54\.7<\/td>/);
 * ```
 */
export function htmlTable(
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly TableColumn[],
): string {
  const head = columns.map((c) => `<th>${escapeHtml(c.label)}</th>`).join("");
  const body = rows.map((row) =>
    "<tr>" + columns.map((c) => {
      const value = row[c.key];
      const num = typeof value === "number" ? ' class="num"' : "";
      return `<td${num}>${cell(value, c.decimals)}</td>`;
    }).join("") + "</tr>"
  ).join("\n");
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function pText(p: number): string {
  return p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`;
}

function ci(e: Estimate, decimals?: number): string {
  return `${formatNumber(e.value, decimals)} (95% CI ${formatNumber(e.low, decimals)} to ${
    formatNumber(e.high, decimals)
  }) ${e.unit}`;
}

/** The ids of {@linkcode ORIGINAL_RUNS} when the runs table holds every one of them. */
function originalIdsIn(runs: pl.DataFrame): string[] | undefined {
  const present = new Set(runs.getColumn("prompt_id").toArray() as string[]);
  const ids = ORIGINAL_RUNS.map((r) => r.promptId);
  return ids.every((id) => present.has(id)) ? ids : undefined;
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
 * Checks each claim of the original write-up against an analysis: the slowdown per 10
 * tokens, complex prompts, complex words, hot first tokens, the "~54 t/s" average and the
 * 45-61 t/s spread. Each verdict comes with its numbers and intervals.
 *
 * @param analysis The result of `analyzeTrace()` (with `originalPromptIds` set to the ids of
 * {@linkcode ORIGINAL_RUNS} for the average and the spread).
 * @returns Six checks, in the write-up's order.
 *
 * @example Check the claims on a simulated trace
 * ```ts
 * import { analyzeTrace, checkOriginalClaims, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const analysis = analyzeTrace(simulateTrace({ slopeUsPerToken: 0 }), {
 *   slowdown: { resamples: 200 },
 *   variance: { resamples: 20 },
 *   promptClass: { permutations: 99, resamples: 100 },
 *   tokenContent: { permutations: 19, resamples: 20 },
 *   stalls: { resamples: 100 },
 * });
 * const claims = checkOriginalClaims(analysis);
 * assert.equal(claims.length, 6);
 * assert.notEqual(claims[0]!.verdict, "supported");
 * ```
 */
export function checkOriginalClaims(analysis: TraceAnalysis): ClaimCheck[] {
  const s = analysis.slowdown;
  const pct = s.slowdownPctPer10;
  const includesZero = pct.low <= 0 && pct.high >= 0;
  const slowdownVerdict: ClaimCheckVerdict = s.claim.verdict === "consistent"
    ? (includesZero ? "unclear" : "consistent")
    : s.claim.verdict;
  const slowdownWhy = {
    unclear: "the interval holds the claim but also no slowdown at all: this dataset cannot tell",
    consistent: "the claimed range overlaps the interval, which excludes zero",
    overstated: "the whole interval lies below the claimed range",
    understated: "the whole interval lies above the claimed range",
  }[slowdownVerdict]!;
  const checks: ClaimCheck[] = [{
    claim: "Speed drops ~1-2% per 10 additional tokens",
    verdict: slowdownVerdict,
    evidence: `Fitted slowdown ${ci(pct)} (b = ${
      ci(s.slopeUsPerToken)
    }, within-run fit over ${s.runs} runs); ${slowdownWhy}.`,
  }];

  const pc = analysis.promptClass;
  const complex = pc.effects.find((e) => e.class === "complex") ?? pc.effects[0];
  if (pc.test === null || complex === undefined) {
    checks.push({
      claim: "Complex prompts require more computation per token",
      verdict: "not testable",
      evidence: "The dataset has no two prompt classes at matched prompt length.",
    });
  } else {
    const e = complex.effectUs;
    const share = (e.value / 1000 / s.startLatencyMs.value) * 100;
    const supported = pc.test.pValue < 0.05 && e.low > 0;
    checks.push({
      claim: "Complex prompts require more computation per token",
      verdict: supported ? "supported" : "not supported",
      evidence: `At matched prompt length, "${complex.class}" prompts decode ${
        ci(e)
      } against "${pc.reference}" (${
        formatNumber(share)
      }% of the start-of-decode latency); permutation test ${
        pText(pc.test.pValue)
      } over ${pc.runs} runs.`,
    });
  }

  const tc = analysis.tokenContent;
  const perByte = tc.effects.find((e) => e.feature === "piece_bytes");
  checks.push({
    claim: 'Complex words ("classification", "generalize") are slightly slower',
    verdict: tc.test.pValue < 0.05 ? "supported" : "not supported",
    evidence: `Token content explains ${
      formatNumber(tc.partialR2Pct)
    }% of the within-run variance left after position (permutation test ${pText(tc.test.pValue)})${
      perByte ? `; one more byte in a piece changes latency by ${ci(perByte.effectUs)}` : ""
    }.`,
  });

  const first = s.windows[0];
  const last = s.windows[s.windows.length - 1];
  const b = s.slopeUsPerToken;
  const windowText = first && last && first !== last
    ? `Tokens ${first.firstToken}-${first.lastToken} run at ${
      ci(first.tokensPerS)
    }, tokens ${last.firstToken}-${last.lastToken} at ${ci(last.tokensPerS)}. `
    : "";
  const warm = analysis.warmup;
  const warmText = warm
    ? ` What is warm is the session: the ${warm.group} decode ${
      ci(warm.effectMs)
    } slower per token than later runs (${pText(warm.pValue)}).`
    : "";
  checks.push({
    claim: "First tokens are faster (the cache is hot); later tokens slow down",
    verdict: b.low > 0 ? "supported" : b.high < 0 ? "not supported" : "unclear",
    evidence: `${windowText}Within runs, latency changes by ${ci(b)}${
      b.low > 0
        ? ""
        : b.high < 0
        ? ": later tokens are faster, not slower"
        : ", an interval that includes no change"
    }.${warmText}`,
  });

  const o = analysis.originalTable;
  checks.push({
    claim: "Your actual performance: ~54 tokens/second average",
    verdict: "misleading",
    evidence: `The mean of the per-prompt rates is ${
      formatNumber(o.naiveMeanTokensPerS)
    } tokens/s, but it weights a 30-token run like a 50-token run: total tokens over total time is ${
      formatNumber(o.pooledTokensPerS)
    } tokens/s, and the decode rate, which excludes the time to first token, is ${
      formatNumber(o.pooledDecodeTokensPerS)
    } tokens/s.`,
  });

  const r = analysis.runStory;
  checks.push(
    r === null
      ? {
        claim: "45-61 t/s is normal variation from prompt complexity and output length",
        verdict: "not testable",
        evidence: "Fewer than 3 timed runs.",
      }
      : {
        claim: "45-61 t/s is normal variation from prompt complexity and output length",
        // Supported when run length and TTFT at one decode rate reproduce most of the spread.
        verdict: r.constantRateR2Pct >= 50 ? "supported" : "not supported",
        evidence: `One common decode rate of ${
          formatNumber(r.pooledDecodeTokensPerS)
        } tokens/s, with each run's own time to first token and output length, reproduces ${
          formatNumber(r.constantRateR2Pct)
        }% of the spread in e2e tokens/s across ${r.runs} runs: ${
          r.constantRateR2Pct >= 50
            ? "most of the spread is the time to first token spread over different output lengths, not a different cost per token"
            : "most of the spread is in the decode rate itself, which the other sections take apart"
        }. Per 10 more output tokens, e2e speed changes ${
          ci(r.e2e.per10OutputTokens)
        } and decode speed ${ci(r.decode.per10OutputTokens)}; the time to first token takes ${
          ci(r.meanTtftSharePct)
        }.`,
      },
  );
  return checks;
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

function figure(svg: string, caption: string): string {
  return `<figure>\n${svg}\n<figcaption>${escapeHtml(caption)}</figcaption>\n</figure>`;
}

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

/** The report's comparison section: the ratio chart, the table, environment and warnings. */
function comparisonSection(result: SessionComparison): string {
  const rows = COMPARE_METRICS.map((m) => result.metrics[m]);
  const chart = plotComparison(
    rows.filter((r) => Number.isFinite(r.ratio.value)).map((r) => ({
      label: `${r.label} (${r.higherIsFaster ? "higher" : "lower"} is faster)`,
      value: r.ratio.value,
      low: r.ratio.low,
      high: r.ratio.high,
      verdict: r.verdict,
    })),
    { width: 820, thresholdPct: result.thresholdPct },
  );
  const parts = [
    `<h2>6. Baseline against candidate</h2>`,
    `<p>Baseline: <code>${
      escapeHtml(result.baselineSessions.join(", "))
    }</code>; candidate: <code>${
      escapeHtml(result.candidateSessions.join(", "))
    }</code>. Each metric is a candidate/baseline ratio with its 95% interval; the grey band is the no-change band of ±${result.thresholdPct}%. An interval inside the band is <em>no change</em>, one wholly beyond it on the faster side <em>faster</em> (the slower side <em>slower</em>), and one that crosses a band edge <em>inconclusive</em>.</p>`,
    figure(
      chart,
      `Candidate/baseline ratio per metric with 95% intervals and the ±${result.thresholdPct}% band.`,
    ),
    htmlTable(
      rows.map((r) => ({
        metric: r.label,
        baseline: r.baseline,
        candidate: r.candidate,
        ratio: Number.isFinite(r.ratio.low)
          ? `${r.ratio.value.toFixed(3)} [${r.ratio.low.toFixed(3)}-${r.ratio.high.toFixed(3)}]`
          : Number.isFinite(r.ratio.value)
          ? r.ratio.value.toFixed(3)
          : "n/a",
        verdict: r.verdict,
        detectable: Number.isFinite(r.detectablePct) ? `${r.detectablePct.toFixed(1)}%` : "n/a",
      })),
      [
        { key: "metric", label: "metric" },
        { key: "baseline", label: "baseline" },
        { key: "candidate", label: "candidate" },
        { key: "ratio", label: "ratio [95% CI]" },
        { key: "verdict", label: "verdict" },
        { key: "detectable", label: "smallest detectable change" },
      ],
    ),
    `<p class="meta">Method: ${
      escapeHtml(result.metrics.decodeTokensPerS.ratio.method)
    }. Cells compared: ${
      escapeHtml(
        result.cells.map((c) => `${c.key} (${c.baselineRuns}+${c.candidateRuns} runs)`).join("; "),
      )
    }${
      result.leftOut.length > 0
        ? `; left out (one side only): ${
          escapeHtml(result.leftOut.map((c) => `${c.key} (${c.side})`).join("; "))
        }`
        : ""
    }.</p>`,
    result.environment.length === 0
      ? `<p>No environment difference is recorded between the sides.</p>`
      : `<p>Environment differences:</p>\n<ul>\n${
        result.environment.map((d) =>
          `<li>${escapeHtml(d.field)}: ${escapeHtml(d.baseline || "(empty)")} → ${
            escapeHtml(d.candidate || "(empty)")
          }</li>`
        ).join("\n")
      }\n</ul>`,
  ];
  if (result.warnings.length > 0) {
    parts.push(
      `<p>Warnings:</p>\n<ul>\n${
        result.warnings.map((w) => `<li>${escapeHtml(w.message)}</li>`).join("\n")
      }\n</ul>`,
    );
  }
  return parts.join("\n");
}
