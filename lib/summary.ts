/**
 * Per-prompt summaries of a trace dataset: what `tokentrace trace` prints at the end of a
 * session, as a table or as one JSON document.
 *
 * Figures come from measured runs only; warm-up runs are summarized apart. Quantiles use
 * linear interpolation between order statistics (R type 7). Inter-token latencies are the
 * decode-phase token latencies (token 1 onwards; token 0's latency is the TTFT) pooled
 * over a prompt's measured runs. A stall is a decode-phase token slower than 3 times its
 * own run's median decode-phase latency.
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame, LazyFrame } from "./frame.ts";

/** Figures of a prompt's warm-up run(s), kept apart from the measured figures. */
export interface WarmupSummary {
  /** Warm-up runs. */
  readonly runs: number;
  /** Median time to first token, ms. */
  readonly ttftMs: number | null;
  /** Median decode tokens/s. */
  readonly decodeTokensPerS: number | null;
  /** Median end-to-end tokens/s (the naive figure). */
  readonly e2eTokensPerS: number | null;
}

/** One prompt (at one setting) summarized over its measured runs. */
export interface PromptSummary {
  /** Prompt id. */
  readonly promptId: string;
  /** Prompt class. */
  readonly promptClass: string;
  /** Compute threads of these runs. */
  readonly threads: number;
  /** Context depth of these runs, tokens. */
  readonly depthTokens: number;
  /** Batch size of these runs, tokens. */
  readonly batchSize: number;
  /** Prompt tokens after templating (median over runs). */
  readonly promptTokens: number | null;
  /** Measured (non-warm-up) runs. */
  readonly runs: number;
  /** Output tokens of all measured runs together. */
  readonly outputTokens: number;
  /** Median output tokens per measured run. */
  readonly outputTokensPerRun: number | null;
  /** Median time to first token, ms. */
  readonly ttftMsMedian: number | null;
  /** Median decode tokens/s ((output tokens − 1) / decode time) over runs. */
  readonly decodeTokensPerSMedian: number | null;
  /** First quartile of decode tokens/s over runs. */
  readonly decodeTokensPerSQ1: number | null;
  /** Third quartile of decode tokens/s over runs. */
  readonly decodeTokensPerSQ3: number | null;
  /** Median end-to-end tokens/s (output tokens / total time): the naive, usually quoted figure. */
  readonly e2eTokensPerSMedian: number | null;
  /** Median inter-token (decode-phase) latency, ms. */
  readonly interTokenMsP50: number | null;
  /** 90th percentile inter-token latency, ms. */
  readonly interTokenMsP90: number | null;
  /** 99th percentile inter-token latency, ms. */
  readonly interTokenMsP99: number | null;
  /** Decode-phase tokens slower than 3 times their run's median decode latency. */
  readonly stalls: number;
  /** Decode-phase tokens the stall count looked at. */
  readonly decodeTokens: number;
  /** The warm-up run(s), or null when there were none. */
  readonly warmup: WarmupSummary | null;
}

/** Session facts printed above the per-prompt table. */
export interface SessionSummary {
  /** Session id. */
  readonly sessionId: string;
  /** `running`, `complete` or `interrupted`. */
  readonly status: string;
  /** Suite name or path. */
  readonly suite: string;
  /** Model file path. */
  readonly modelPath: string;
  /** Model name. */
  readonly modelName: string;
  /** Model quantization. */
  readonly modelQuantization: string;
  /** Whether the model is a synthetic one (random weights). */
  readonly modelSynthetic: boolean;
  /** Backend in use. */
  readonly backend: string;
  /** Session default threads. */
  readonly threads: number;
  /** Finished runs on disk. */
  readonly runsDone: number;
  /** Runs in the session's plan (equal to `runsDone` when no plan is stored). */
  readonly runsPlanned: number;
  /** The dataset directory. */
  readonly datasetDir: string;
  /** The session directory. */
  readonly sessionDir: string;
  /** Command that builds the report on this dataset. */
  readonly reportCommand: string;
}

/** A session's summary: session facts and one entry per prompt and setting. */
export interface TraceSummary {
  /** Session facts. */
  readonly session: SessionSummary;
  /** Per prompt (and setting) figures, in suite order. */
  readonly prompts: readonly PromptSummary[];
}

/**
 * The q-quantile of ascending sorted values, by linear interpolation between order
 * statistics (R type 7). Null for no values.
 */
function quantileSorted(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function finiteSorted(values: readonly number[]): number[] {
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

function median(values: readonly number[]): number | null {
  return quantileSorted(finiteSorted(values), 0.5);
}

/** The nodejs-polars DataFrame behind a dataset table (collected when lazy). */
function collect(frame: Frame | LazyFrame): pl.DataFrame {
  return ("collectSync" in frame ? frame.collectSync() : frame) as pl.DataFrame;
}

function column(frame: pl.DataFrame, name: string): unknown[] {
  return frame.getColumn(name).toArray() as unknown[];
}

function numbers(frame: pl.DataFrame, name: string): number[] {
  return column(frame, name).map((v) => v === null ? NaN : Number(v));
}

/** Options for {@linkcode summarizeRuns}. */
export interface SummarizeRunsOptions {
  /**
   * Prompt ids in the order to list them; others follow in order of first run.
   *
   * @default {order of each prompt's first run}
   */
  promptOrder?: readonly string[];
}

/**
 * Summarizes runs per prompt and setting (threads, depth, batch size) from a dataset's
 * `runs` and `tokens` tables (columns as in `SCHEMA`).
 *
 * @param runs The `runs` table.
 * @param tokens The `tokens` table.
 * @param options Ordering options.
 * @returns One summary per prompt and setting.
 *
 * @example Summarize two hand-made runs
 * ```ts
 * import { summarizeRuns } from "@tokentrace/tokentrace";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * const runs = pl.DataFrame({
 *   run_id: ["r0", "r1"], order_index: [0, 1], warmup: [true, false],
 *   prompt_id: ["p", "p"], prompt_class: ["simple", "simple"],
 *   threads: [1, 1], depth_tokens: [0, 0], batch_size: [512, 512],
 *   prompt_tokens: [5, 5], output_tokens: [3, 3], ttft_ms: [50, 40],
 *   decode_tokens_per_s: [40, 50], e2e_tokens_per_s: [20, 25],
 * });
 * const tokens = pl.DataFrame({
 *   run_id: ["r0", "r0", "r0", "r1", "r1", "r1"],
 *   token_index: [0, 1, 2, 0, 1, 2],
 *   latency_ms: [50, 25, 25, 40, 20, 20],
 * });
 * const [p] = summarizeRuns(runs, tokens);
 * assert.equal(p?.runs, 1);
 * assert.equal(p?.decodeTokensPerSMedian, 50);
 * assert.equal(p?.warmup?.ttftMs, 50);
 * ```
 */
export function summarizeRuns(
  runs: Frame | LazyFrame,
  tokens: Frame | LazyFrame,
  options: SummarizeRunsOptions = {},
): PromptSummary[] {
  const { promptOrder = [] } = options;
  const r = collect(runs).sort("order_index");
  const t = collect(tokens);
  const latencies = new Map<string, number[]>();
  const tokenRun = column(t, "run_id") as string[];
  const tokenIndex = numbers(t, "token_index");
  const tokenLatency = numbers(t, "latency_ms");
  for (let i = 0; i < tokenRun.length; i++) {
    if (tokenIndex[i]! < 1) continue;
    const list = latencies.get(tokenRun[i]!) ?? [];
    list.push(tokenLatency[i]!);
    latencies.set(tokenRun[i]!, list);
  }
  const row = {
    runId: column(r, "run_id") as string[],
    warmup: column(r, "warmup") as boolean[],
    promptId: column(r, "prompt_id") as string[],
    promptClass: column(r, "prompt_class") as string[],
    threads: numbers(r, "threads"),
    depth: numbers(r, "depth_tokens"),
    batch: numbers(r, "batch_size"),
    promptTokens: numbers(r, "prompt_tokens"),
    outputTokens: numbers(r, "output_tokens"),
    ttft: numbers(r, "ttft_ms"),
    decode: numbers(r, "decode_tokens_per_s"),
    e2e: numbers(r, "e2e_tokens_per_s"),
  };
  const groups = new Map<string, number[]>();
  for (let i = 0; i < row.runId.length; i++) {
    const key = JSON.stringify([row.promptId[i], row.threads[i], row.depth[i], row.batch[i]]);
    const list = groups.get(key) ?? [];
    list.push(i);
    groups.set(key, list);
  }
  const summaries = [...groups.values()].map((indices): PromptSummary => {
    const first = indices[0]!;
    const measured = indices.filter((i) => !row.warmup[i]);
    const warm = indices.filter((i) => row.warmup[i]);
    const pick = (values: readonly number[], of: readonly number[]) => of.map((i) => values[i]!);
    const decode = finiteSorted(pick(row.decode, measured));
    const pooled: number[] = [];
    let stalls = 0;
    for (const i of measured) {
      const own = latencies.get(row.runId[i]!) ?? [];
      const threshold = 3 * (median(own) ?? Infinity);
      stalls += own.filter((ms) => ms > threshold).length;
      pooled.push(...own);
    }
    const itl = finiteSorted(pooled);
    return {
      promptId: row.promptId[first]!,
      promptClass: row.promptClass[first]!,
      threads: row.threads[first]!,
      depthTokens: row.depth[first]!,
      batchSize: row.batch[first]!,
      promptTokens: median(pick(row.promptTokens, indices)),
      runs: measured.length,
      outputTokens: pick(row.outputTokens, measured).reduce((a, b) => a + b, 0),
      outputTokensPerRun: median(pick(row.outputTokens, measured)),
      ttftMsMedian: median(pick(row.ttft, measured)),
      decodeTokensPerSMedian: quantileSorted(decode, 0.5),
      decodeTokensPerSQ1: quantileSorted(decode, 0.25),
      decodeTokensPerSQ3: quantileSorted(decode, 0.75),
      e2eTokensPerSMedian: median(pick(row.e2e, measured)),
      interTokenMsP50: quantileSorted(itl, 0.5),
      interTokenMsP90: quantileSorted(itl, 0.9),
      interTokenMsP99: quantileSorted(itl, 0.99),
      stalls,
      decodeTokens: pooled.length,
      warmup: warm.length === 0 ? null : {
        runs: warm.length,
        ttftMs: median(pick(row.ttft, warm)),
        decodeTokensPerS: median(pick(row.decode, warm)),
        e2eTokensPerS: median(pick(row.e2e, warm)),
      },
    };
  });
  const rank = (id: string): number => {
    const index = promptOrder.indexOf(id);
    return index < 0 ? promptOrder.length : index;
  };
  // Settings ascending, then prompts in the requested order; ties keep first-run order.
  return summaries.sort((a, b) =>
    a.batchSize - b.batchSize || a.threads - b.threads || a.depthTokens - b.depthTokens ||
    rank(a.promptId) - rank(b.promptId)
  );
}

/** Options for {@linkcode summarizeSession}. */
export interface SummarizeSessionOptions {
  /**
   * The session to summarize.
   *
   * @default {the only session, or the latest started one}
   */
  sessionId?: string;
  /**
   * The dataset directory, for the session's paths and the report command.
   *
   * @default {"."}
   */
  datasetDir?: string;
  /**
   * Prompt ids in the order to list them.
   *
   * @default {the order of the session's plan, else of each prompt's first run}
   */
  promptOrder?: readonly string[];
}

/** The tables of a dataset, as `readDataset()` returns them. */
export interface DatasetTables {
  /** The `sessions` table. */
  readonly sessions: Frame | LazyFrame;
  /** The `runs` table. */
  readonly runs: Frame | LazyFrame;
  /** The `tokens` table. */
  readonly tokens: Frame | LazyFrame;
}

/**
 * Summarizes one session of a dataset: session facts (model, backend, threads, where
 * the data is, how to open the report) and per-prompt figures (see
 * {@linkcode summarizeRuns}).
 *
 * @param dataset The dataset's tables.
 * @param options Which session, and where the dataset lives.
 * @returns The session summary.
 * @throws {RangeError} When the dataset has no such session.
 *
 * @example Summarize a dataset read from disk
 * ```ts ignore
 * // Needs a dataset written by `tokentrace trace`.
 * import { readDataset, summarizeSession } from "@tokentrace/tokentrace";
 *
 * const summary = summarizeSession(await readDataset("data/traces"), {
 *   datasetDir: "data/traces",
 * });
 * console.log(summary.prompts.map((p) => p.decodeTokensPerSMedian));
 * ```
 */
export function summarizeSession(
  dataset: DatasetTables,
  options: SummarizeSessionOptions = {},
): TraceSummary {
  const { datasetDir = ".", promptOrder } = options;
  const sessions = collect(dataset.sessions).sort("started_at_utc");
  const ids = column(sessions, "session_id") as string[];
  const sessionId = options.sessionId ?? ids[ids.length - 1];
  const at = sessionId === undefined ? -1 : ids.indexOf(sessionId);
  if (sessionId === undefined || at < 0) {
    throw new RangeError(
      `Cannot summarize session ${JSON.stringify(sessionId ?? "")}: the dataset in ${
        JSON.stringify(datasetDir)
      } has no such session`,
    );
  }
  const s = sessions.slice(at, 1);
  const value = (name: string): unknown => column(s, name)[0];
  const ofSession = pl.col("session_id").eq(pl.lit(sessionId));
  const runs = collect(dataset.runs).filter(ofSession);
  const runIds = new Set(column(runs, "run_id") as string[]);
  const tokens = collect(dataset.tokens).filter(ofSession);
  let planned = runIds.size;
  let planOrder: string[] = [];
  try {
    const plan = JSON.parse(String(value("plan_json"))) as {
      runs?: { promptId?: string }[];
    };
    if (Array.isArray(plan.runs)) {
      planned = plan.runs.length;
      planOrder = [...new Set(plan.runs.map((run) => String(run.promptId)))];
    }
  } catch {
    // No readable plan: a library session; keep the counts of what is on disk.
  }
  const root = datasetDir.replace(/\/+$/, "") || ".";
  return {
    session: {
      sessionId,
      status: String(value("status")),
      suite: String(value("suite")),
      modelPath: String(value("model_path")),
      modelName: String(value("model_name")),
      modelQuantization: String(value("model_quantization")),
      modelSynthetic: value("model_synthetic") === true,
      backend: String(value("backend")),
      threads: Number(value("threads")),
      runsDone: runIds.size,
      runsPlanned: planned,
      datasetDir: root,
      sessionDir: `${root}/session=${sessionId}`,
      reportCommand: `deno task report ${root}`,
    },
    prompts: summarizeRuns(runs, tokens, { promptOrder: promptOrder ?? planOrder }),
  };
}

function fixed(value: number | null, digits = 1): string {
  return value === null ? "-" : value.toFixed(digits);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${
      cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")
    } |`;
  const rule = `|${
    widths.map((w, i) => (i < 2 ? `-${"-".repeat(w)}-` : `-${"-".repeat(w)}:`)).join("|")
  }|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/**
 * Renders a summary as text: session lines, a markdown table of measured figures per
 * prompt (threads, depth and batch columns appear only when they vary), the warm-up
 * runs apart, and how to open the report.
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
 *     threads: 2, runsDone: 0, runsPlanned: 0, datasetDir: "data/traces",
 *     sessionDir: "data/traces/session=s", reportCommand: "deno task report data/traces",
 *   },
 *   prompts: [],
 * });
 * assert.match(text, /synthetic/);
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
    `backend:  ${session.backend}, ${session.threads} ${
      session.threads === 1 ? "thread" : "threads"
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
    "latency of decode tokens; stalls = tokens slower than 3x their run's median.",
    "",
    `dataset:  ${session.sessionDir}`,
    `report:   ${session.reportCommand}`,
  );
  return `${lines.join("\n")}\n`;
}
