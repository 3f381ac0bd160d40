/**
 * The text of a session summary (see `summarizeSession()`): session lines, a markdown
 * table per prompt, the thread comparisons and the warm-up runs, as `tokentrace trace`
 * prints it.
 *
 * @module
 */

import { formatEstimate } from "../analysis/describe.ts";
import type { PromptSummary, TraceSummary } from "./summary.ts";
import type { ThreadsComparison } from "./threads_comparison.ts";

function fixed(value: number | null, digits = 1): string {
  return value === null ? "-" : value.toFixed(digits);
}

/** A markdown table; the first `left` columns are left-aligned, the others right-aligned. */
function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left = 2,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${
      cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")
    } |`;
  const rule = `|${
    widths.map((w, i) => (i < left ? `-${"-".repeat(w)}-` : `-${"-".repeat(w)}:`)).join("|")
  }|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function threadsText(n: number): string {
  return `${n} ${n === 1 ? "thread" : "threads"}`;
}

/** The lines of one threads comparison (see {@linkcode compareThreads}). */
function threadsBlock(c: ThreadsComparison, showSetting: boolean): string[] {
  const at = showSetting ? ` at depth ${c.depthTokens}, batch ${c.batchSize}` : "";
  const lines = [
    `Threads${at}: measured runs of ${c.promptIds.join(", ")} pooled per thread count`,
    "",
    table(
      [
        "threads",
        "runs",
        "decode tok",
        "decode tok/s (all tokens)",
        "run tok/s median",
        "run tok/s mean [95% CI]",
        "fastest/this [95% CI]",
      ],
      c.rows.map((row) => [
        String(row.threads),
        String(row.runs),
        String(row.decodeTokens),
        row.decodeTokensPerS.toFixed(1),
        row.runDecodeTokensPerSMedian.toFixed(1),
        formatEstimate(row.runDecodeTokensPerSMean, { layout: "cell", decimals: 1 }),
        row.threads === c.fastest
          ? "fastest"
          : `${row.tiesFastest ? "tie " : ""}${
            formatEstimate(row.fastestRatio, { layout: "cell", decimals: 3 })
          }`,
      ]),
      0,
    ),
    "",
  ];
  const ratio = formatEstimate(c.ratio, { layout: "cell", decimals: 3, valueSuffix: "x" });
  lines.push(
    c.best === c.fastest
      ? `best: ${threadsText(c.best)}, ${ratio} the decode rate of the next, ${threadsText(c.next)}`
      : `best: ${threadsText(c.best)}, tied with the fastest, ${threadsText(c.fastest)} ` +
        `(${ratio} its decode rate); ties go to fewer threads`,
  );
  if (!c.balanced) {
    lines.push(
      "note: unequal runs per prompt across thread counts (interrupted session?): the pooled",
      "rates weigh the prompts differently",
    );
  }
  return lines;
}

/**
 * Renders a summary as text: session lines, a markdown table of measured figures per
 * prompt (threads, depth and batch columns appear only when they vary), a "Threads" block
 * per thread comparison naming the best thread count, the warm-up runs apart, and how to
 * open the report.
 *
 * @param summary The summary.
 * @returns Text for stdout, ending in a newline.
 *
 * @example Render a summary without prompts
 * ```ts
 * import { formatSummary } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const text = formatSummary({
 *   session: {
 *     sessionId: "s", status: "complete", suite: "default", modelPath: "m.gguf",
 *     modelName: "m", modelQuantization: "Q8_0", modelSynthetic: true, backend: "cpu",
 *     source: "in-process (llama.cpp v1)", threads: 2, pinnedRuns: 0, pinnedCpus: [], runsDone: 0, runsPlanned: 0,
 *     datasetDir: "data/traces",
 *     sessionDir: "data/traces/session=s", reportCommand: "deno task report data/traces",
 *   },
 *   prompts: [],
 *   threads: [],
 * });
 * assert.match(text, /synthetic/);
 * assert.match(text, /source: +in-process \(llama\.cpp v1\)/);
 * assert.match(text, /deno task report data\/traces/);
 * ```
 */
export function formatSummary(summary: TraceSummary): string {
  const { session, prompts } = summary;
  const varies = (pick: (p: PromptSummary) => number) => new Set(prompts.map(pick)).size > 1;
  const showThreads = varies((p) => p.threads);
  const showDepth = varies((p) => p.depthTokens);
  const showBatch = varies((p) => p.batchSize);
  const settings = (p: PromptSummary): string[] => [
    ...(showThreads ? [String(p.threads)] : []),
    ...(showDepth ? [String(p.depthTokens)] : []),
    ...(showBatch ? [String(p.batchSize)] : []),
  ];
  const settingHeader = [
    ...(showThreads ? ["threads"] : []),
    ...(showDepth ? ["depth"] : []),
    ...(showBatch ? ["batch"] : []),
  ];
  const model = `${session.modelPath} (${session.modelName}, ${session.modelQuantization}${
    session.modelSynthetic ? "; synthetic: random weights, real compute cost" : ""
  })`;
  const lines = [
    `session:  ${session.sessionId} (${session.status}, ${session.runsDone}/${session.runsPlanned} runs, suite ${session.suite})`,
    `model:    ${model}`,
    `source:   ${session.source}`,
    `backend:  ${
      Number.isNaN(session.threads)
        ? `${session.backend || "not reported"}, threads not reported`
        : `${session.backend}, ${session.threads} ${session.threads === 1 ? "thread" : "threads"}`
    }${
      session.pinnedRuns === 0
        ? ""
        : `; ${session.pinnedRuns}/${session.runsDone} runs pinned to CPU ${
          session.pinnedCpus.join(" or ")
        } (runs.cpu_affinity)`
    }`,
    "",
    table(
      [
        "prompt",
        "class",
        ...settingHeader,
        "prompt tok",
        "runs",
        "out tok",
        "TTFT ms",
        "decode tok/s [IQR]",
        "e2e tok/s (naive)",
        "ITL p50/p90/p99 ms",
        "stalls",
      ],
      prompts.map((p) => [
        p.promptId,
        p.promptClass,
        ...settings(p),
        fixed(p.promptTokens, 0),
        String(p.runs),
        String(p.outputTokens),
        fixed(p.ttftMsMedian),
        `${fixed(p.decodeTokensPerSMedian)} [${fixed(p.decodeTokensPerSQ1)}-${
          fixed(p.decodeTokensPerSQ3)
        }]`,
        fixed(p.e2eTokensPerSMedian),
        `${fixed(p.interTokenMsP50)}/${fixed(p.interTokenMsP90)}/${fixed(p.interTokenMsP99)}`,
        `${p.stalls}/${p.decodeTokens}`,
      ]),
    ),
  ];
  const comparisons = summary.threads;
  for (const c of comparisons) lines.push("", ...threadsBlock(c, comparisons.length > 1));
  if (comparisons.length > 0) {
    const below = +(1 + comparisons[0]!.tolerance).toFixed(6);
    lines.push(
      "",
      "decode tok/s (all tokens) = all decode tokens / all decode time (stalls included);",
      "fastest/this = ratio of these rates, 95% Welch t interval on the log ratio (delta-method",
      `variances over runs). A count ties with the fastest when the ratio is below ${below} or`,
      "its interval contains 1; ties go to fewer threads.",
    );
  }
  const warm = prompts.filter((p) => p.warmup !== null);
  if (warm.length > 0) {
    lines.push(
      "",
      "Warm-up runs (recorded, left out of the figures above):",
      "",
      table(
        ["prompt", "class", ...settingHeader, "runs", "TTFT ms", "decode tok/s", "e2e tok/s"],
        warm.map((p) => [
          p.promptId,
          p.promptClass,
          ...settings(p),
          String(p.warmup!.runs),
          fixed(p.warmup!.ttftMs),
          fixed(p.warmup!.decodeTokensPerS),
          fixed(p.warmup!.e2eTokensPerS),
        ]),
      ),
    );
  }
  lines.push(
    "",
    "decode tok/s = (output tokens - 1) / time from first to last token; e2e tok/s = output",
    "tokens / total time including prefill (the figure usually quoted). ITL = inter-token",
    "latency of decode tokens; stalls = tokens more than 5 robust sd (1.4826 x MAD, pooled",
    "over all runs) slower than their run's median, as in `tokentrace report`.",
    "",
    `dataset:  ${session.sessionDir}`,
    `report:   ${session.reportCommand}`,
  );
  return `${lines.join("\n")}\n`;
}
