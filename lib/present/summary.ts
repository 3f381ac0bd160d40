/**
 * Per-prompt summaries of a trace dataset: the figures `tokentrace trace` prints at the end
 * of a session, as a table (see `formatSummary()`) or as one JSON document.
 *
 * Figures come from measured runs only; warm-up runs are summarized apart. Quantiles use
 * linear interpolation between order statistics (R type 7). Inter-token latencies are the
 * decode-phase token latencies (token 1 onwards; token 0's latency is the TTFT) pooled
 * over a prompt's measured runs. Stalls follow the one stall rule of `flagStalls()` (more
 * than 5 robust standard deviations above the run's median, the threshold pooled over every
 * run of the dataset), so the stall column adds up to `detectStalls()`'s count.
 *
 * When the measured runs use more than one thread count, the summary also compares thread
 * counts and names the best one (see {@linkcode compareThreads}).
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame, LazyFrame } from "../schema/frame.ts";
import { flagStalls } from "../analysis/_stall_rule.ts";
import { planFromJson, planPromptOrder } from "../experiment/plan.ts";
import { compareThreads, type ThreadsComparison } from "./threads_comparison.ts";
import {
  collect,
  column,
  finiteSorted,
  medianOrNull,
  numbers,
  quantileOrNull,
} from "./_columns.ts";

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
  /** Decode-phase tokens flagged by the stall rule (`flagStalls()`, pooled over the dataset). */
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
  /**
   * Where the tokens came from, for display: `in-process (<engine> <version>)` or
   * `endpoint <url> (<engine> <version>)`.
   */
  readonly source: string;
  /** Session default threads; NaN when unknown (an endpoint). */
  readonly threads: number;
  /** Finished runs pinned to CPUs (`cpu_affinity` not empty). */
  readonly pinnedRuns: number;
  /** The distinct `cpu_affinity` values of pinned runs, ascending. */
  readonly pinnedCpus: readonly string[];
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

/** A session's summary: session facts, one entry per prompt and setting, thread comparisons. */
export interface TraceSummary {
  /** Session facts. */
  readonly session: SessionSummary;
  /** Per prompt (and setting) figures, in suite order. */
  readonly prompts: readonly PromptSummary[];
  /**
   * One comparison of thread counts per depth and batch size measured at more than one
   * thread count (see {@linkcode compareThreads}); empty when the threads do not vary.
   */
  readonly threads: readonly ThreadsComparison[];
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
  const stallCount = new Map<string, number>();
  const tokenRun = column(t, "run_id") as string[];
  const tokenIndex = numbers(t, "token_index");
  const tokenLatency = numbers(t, "latency_ms");
  const decodeLatency: number[] = [];
  const decodeRun: number[] = [];
  const decodeRunId: string[] = [];
  const runIndex = new Map<string, number>();
  for (let i = 0; i < tokenRun.length; i++) {
    if (tokenIndex[i]! < 1) continue;
    const list = latencies.get(tokenRun[i]!) ?? [];
    list.push(tokenLatency[i]!);
    latencies.set(tokenRun[i]!, list);
    if (!runIndex.has(tokenRun[i]!)) runIndex.set(tokenRun[i]!, runIndex.size);
    decodeLatency.push(tokenLatency[i]!);
    decodeRun.push(runIndex.get(tokenRun[i]!)!);
    decodeRunId.push(tokenRun[i]!);
  }
  // one stall rule for the whole dataset, as the analysis applies it
  const { flags } = flagStalls(decodeLatency, decodeRun, { runs: runIndex.size });
  for (let k = 0; k < flags.length; k++) {
    if (flags[k] === 1) stallCount.set(decodeRunId[k]!, (stallCount.get(decodeRunId[k]!) ?? 0) + 1);
  }
  const row = {
    runId: column(r, "run_id") as string[],
    warmup: column(r, "warmup") as boolean[],
    failed: r.columns.includes("stop_reason")
      ? column(r, "stop_reason").map((reason) => reason === "error")
      : new Array<boolean>(r.height).fill(false),
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
    // A run the source failed in (stop_reason "error") is recorded but never measured.
    const measured = indices.filter((i) => !row.warmup[i] && !row.failed[i]);
    const warm = indices.filter((i) => row.warmup[i] && !row.failed[i]);
    const pick = (values: readonly number[], of: readonly number[]) => of.map((i) => values[i]!);
    const decode = finiteSorted(pick(row.decode, measured));
    const pooled: number[] = [];
    let stalls = 0;
    for (const i of measured) {
      const own = latencies.get(row.runId[i]!) ?? [];
      stalls += stallCount.get(row.runId[i]!) ?? 0;
      pooled.push(...own);
    }
    const itl = finiteSorted(pooled);
    return {
      promptId: row.promptId[first]!,
      promptClass: row.promptClass[first]!,
      threads: row.threads[first]!,
      depthTokens: row.depth[first]!,
      batchSize: row.batch[first]!,
      promptTokens: medianOrNull(pick(row.promptTokens, indices)),
      runs: measured.length,
      outputTokens: pick(row.outputTokens, measured).reduce((a, b) => a + b, 0),
      outputTokensPerRun: medianOrNull(pick(row.outputTokens, measured)),
      ttftMsMedian: medianOrNull(pick(row.ttft, measured)),
      decodeTokensPerSMedian: quantileOrNull(decode, 0.5),
      decodeTokensPerSQ1: quantileOrNull(decode, 0.25),
      decodeTokensPerSQ3: quantileOrNull(decode, 0.75),
      e2eTokensPerSMedian: medianOrNull(pick(row.e2e, measured)),
      interTokenMsP50: quantileOrNull(itl, 0.5),
      interTokenMsP90: quantileOrNull(itl, 0.9),
      interTokenMsP99: quantileOrNull(itl, 0.99),
      stalls,
      decodeTokens: pooled.length,
      warmup: warm.length === 0 ? null : {
        runs: warm.length,
        ttftMs: medianOrNull(pick(row.ttft, warm)),
        decodeTokensPerS: medianOrNull(pick(row.decode, warm)),
        e2eTokensPerS: medianOrNull(pick(row.e2e, warm)),
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
  const affinity = column(runs, "cpu_affinity").map(String);
  const tokens = collect(dataset.tokens).filter(ofSession);
  // Without a plan (a session written by hand with DatasetWriter), count what is on disk.
  const plan = planFromJson(String(value("plan_json") ?? ""));
  const planned = plan?.runs.length ?? runIds.size;
  const planOrder = plan === undefined ? [] : planPromptOrder(plan);
  const root = datasetDir.replace(/\/+$/, "") || ".";
  const order = promptOrder ?? planOrder;
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
      source: sourceLabel(value),
      threads: value("threads") === null ? NaN : Number(value("threads")),
      pinnedRuns: affinity.filter((a) => a !== "").length,
      pinnedCpus: [...new Set(affinity.filter((a) => a !== ""))].sort(),
      // Runs the source failed in (stop reason error) are recorded but not done.
      runsDone: column(runs, "stop_reason").filter((reason) => reason !== "error").length,
      runsPlanned: planned,
      datasetDir: root,
      sessionDir: `${root}/session=${sessionId}`,
      reportCommand: `deno task report ${root}`,
    },
    prompts: summarizeRuns(runs, tokens, { promptOrder: order }),
    threads: compareThreads(runs, { promptOrder: order }),
  };
}

/** `in-process (llama.cpp v1)` or `endpoint http://host:port (llama-server b1)`. */
function sourceLabel(value: (name: string) => unknown): string {
  const engine = [value("engine_name"), value("engine_version")].filter((v) => v).join(" ");
  const where = value("source") === "endpoint" ? `endpoint ${value("endpoint_url")}` : "in-process";
  return engine === "" ? where : `${where} (${engine})`;
}
