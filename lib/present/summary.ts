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
 * When the measured runs use more than one thread count, the summary also compares thread
 * counts and names the best one (see {@linkcode compareThreads}).
 *
 * @module
 */

import pl from "nodejs-polars";
import { tEstimate } from "../stats/stats.ts";
import type { Estimate } from "../analysis/types.ts";
import type { Frame, LazyFrame } from "../schema/frame.ts";
import { planFromJson, planPromptOrder } from "../experiment/plan.ts";
import { recommendThreads, THREADS_TOLERANCE } from "../experiment/threads.ts";

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

/** One thread count of a {@linkcode ThreadsComparison}: its measured runs pooled over prompts. */
export interface ThreadsRow {
  /** Compute threads. */
  readonly threads: number;
  /** Measured runs pooled: those of the compared prompts with at least one decode token. */
  readonly runs: number;
  /** Decode tokens of these runs (output tokens − 1 each). */
  readonly decodeTokens: number;
  /** Decode time of these runs, ms (first to last token of each run, stalls included). */
  readonly decodeMs: number;
  /**
   * Pooled decode rate: decode tokens / decode time × 1000, tokens/s; the mean rate over every
   * measured decode token, stalls included (the parity benchmark's definition). Compared.
   */
  readonly decodeTokensPerS: number;
  /** Median over runs of each run's decode rate, tokens/s. */
  readonly runDecodeTokensPerSMedian: number;
  /**
   * Mean over runs of each run's decode rate, tokens/s, with a 95% t interval over runs
   * (`low`/`high` are NaN, `null` in JSON, with a single run).
   */
  readonly runDecodeTokensPerSMean: Estimate;
  /**
   * The fastest count's pooled decode rate over this one's, with its 95% interval (method as
   * in {@linkcode ThreadsComparison.ratio}); exactly 1 for the fastest count itself.
   */
  readonly fastestRatio: Estimate;
  /**
   * Whether this count ties with the fastest: `fastestRatio` below 1 + tolerance, or its
   * interval reaching down to 1 (true for the fastest count itself).
   */
  readonly tiesFastest: boolean;
}

/**
 * Thread counts compared at one depth and batch size, and the recommended count.
 *
 * Rule (that of {@linkcode recommendThreads}, which `probeThreads()` uses too): the fastest
 * count is the one with the highest pooled decode rate; a count ties with it when the rate
 * ratio fastest / count is below 1 + `tolerance` or its 95% interval contains 1 (the data
 * cannot tell them apart); the recommendation is the fewest threads among the ties: more
 * threads must be clearly and materially faster to be worth their cores (fewer threads leave
 * cores to the rest of the machine and stall less).
 */
export interface ThreadsComparison {
  /** Context depth of the compared runs, tokens. */
  readonly depthTokens: number;
  /** Batch size of the compared runs, tokens. */
  readonly batchSize: number;
  /**
   * Prompts pooled: those with measured runs at every compared thread count, in the order
   * asked for (see {@linkcode CompareThreadsOptions.promptOrder}).
   */
  readonly promptIds: readonly string[];
  /**
   * Whether every thread count has the same number of measured runs of each prompt and no
   * prompt was left out; when false (an interrupted session), the pooled rates weigh the
   * prompts differently across thread counts.
   */
  readonly balanced: boolean;
  /** One row per thread count, ascending. */
  readonly rows: readonly ThreadsRow[];
  /** The thread count with the highest pooled decode rate. */
  readonly fastest: number;
  /** The recommended thread count: the fewest threads among those tying with the fastest. */
  readonly best: number;
  /** The thread count `best` is compared with: the fastest of the others. */
  readonly next: number;
  /**
   * Pooled decode rate of `best` over that of `next`, with a 95% interval: a Welch t
   * interval on the log ratio, each pooled rate's variance by linearization over its runs
   * (delta method for a ratio estimator); below 1 when a tie went to fewer threads.
   */
  readonly ratio: Estimate;
  /** Ratios below 1 + tolerance count as ties. */
  readonly tolerance: number;
}

/** Options for {@linkcode compareThreads}. */
export interface CompareThreadsOptions {
  /**
   * A count whose rate ratio to the fastest is below 1 + tolerance ties with it.
   *
   * @default {THREADS_TOLERANCE (0.02)}
   */
  tolerance?: number;
  /**
   * Prompt ids in the order to list them in `promptIds`; others follow in order of first run.
   *
   * @default {order of each prompt's first run}
   */
  promptOrder?: readonly string[];
}

/**
 * Compares thread counts by decode rate and recommends one, from a dataset's `runs` table
 * (columns as in `SCHEMA`; measured runs only, warm-ups left out).
 *
 * One comparison per combination of depth and batch size that was measured at more than one
 * thread count: the best count may differ between them, so they are never pooled. Within a
 * combination the prompts are pooled, keeping only prompts measured at every thread count
 * so each count runs the same workload. Per thread count: the pooled decode rate (decode
 * tokens / decode time, stalls included: the mean rate over every measured decode token),
 * the median run decode rate and the mean run decode rate with a 95% t interval over runs.
 * The recommendation is {@linkcode recommendThreads}'s (the rule is in
 * {@linkcode ThreadsComparison}), the same as `probeThreads()` gives from probe runs.
 *
 * @param runs The `runs` table.
 * @param options The tie tolerance and the order of prompt ids.
 * @returns One comparison per depth and batch size with more than one thread count, ordered
 * by batch size then depth; empty when no thread count varies.
 * @throws {RangeError} When `tolerance` is not a number from 0 to below 1.
 *
 * @example Two threads decode clearly faster than one
 * ```ts
 * import { compareThreads } from "@tokentrace/tokentrace";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * // 64 tokens per run: 63 decode tokens in about 1.5 s at 1 thread, about 1 s at 2 threads.
 * const seconds = [1.5, 1.45, 1.55, 1.0, 0.95, 1.05];
 * const runs = pl.DataFrame({
 *   warmup: seconds.map(() => false),
 *   prompt_id: seconds.map(() => "p"),
 *   threads: [1, 1, 1, 2, 2, 2],
 *   depth_tokens: seconds.map(() => 0),
 *   batch_size: seconds.map(() => 512),
 *   output_tokens: seconds.map(() => 64),
 *   decode_ms: seconds.map((s) => s * 1000),
 * });
 * const [c] = compareThreads(runs);
 * assert.equal(c?.best, 2);
 * assert.equal(c?.next, 1);
 * assert.equal(c?.rows[0]?.decodeTokensPerS, 42);
 * assert.ok(c!.ratio.low > 1 && Math.abs(c!.ratio.value - 1.5) < 1e-12);
 * ```
 */
export function compareThreads(
  runs: Frame | LazyFrame,
  options: CompareThreadsOptions = {},
): ThreadsComparison[] {
  const { tolerance = THREADS_TOLERANCE, promptOrder = [] } = options;
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new RangeError(
      `Cannot compare threads: tolerance must be a number from 0 to below 1, found ${tolerance}`,
    );
  }
  const all = collect(runs);
  const r = all.columns.includes("order_index") ? all.sort("order_index") : all;
  const warmup = column(r, "warmup");
  const promptId = column(r, "prompt_id") as string[];
  const threads = numbers(r, "threads");
  const depth = numbers(r, "depth_tokens");
  const batch = numbers(r, "batch_size");
  const output = numbers(r, "output_tokens");
  const decodeMs = numbers(r, "decode_ms");
  // (depth, batch) -> threads -> prompt -> measured runs with decode tokens
  const groups = new Map<string, Map<number, Map<string, number[]>>>();
  for (let i = 0; i < promptId.length; i++) {
    if (warmup[i] !== false || !(output[i]! >= 2 && decodeMs[i]! > 0)) continue;
    const key = JSON.stringify([batch[i], depth[i]]);
    const byThreads = groups.get(key) ?? new Map<number, Map<string, number[]>>();
    groups.set(key, byThreads);
    const byPrompt = byThreads.get(threads[i]!) ?? new Map<string, number[]>();
    byThreads.set(threads[i]!, byPrompt);
    byPrompt.set(promptId[i]!, [...(byPrompt.get(promptId[i]!) ?? []), i]);
  }
  const comparisons: ThreadsComparison[] = [];
  const keys = [...groups.keys()].sort((a, b) => {
    const [ba, da] = JSON.parse(a) as number[];
    const [bb, db] = JSON.parse(b) as number[];
    return ba! - bb! || da! - db!;
  });
  for (const key of keys) {
    const byThreads = groups.get(key)!;
    if (byThreads.size < 2) continue;
    const counts = [...byThreads.keys()].sort((a, b) => a - b);
    const firstRun = new Map<string, number>();
    for (const byPrompt of byThreads.values()) {
      for (const [id, list] of byPrompt) {
        firstRun.set(id, Math.min(firstRun.get(id) ?? Infinity, list[0]!));
      }
    }
    const rank = (id: string): number => {
      const at = promptOrder.indexOf(id);
      return at < 0 ? promptOrder.length : at;
    };
    const promptIds = [...firstRun.keys()]
      .filter((id) => counts.every((t) => byThreads.get(t)!.has(id)))
      .sort((a, b) => rank(a) - rank(b) || firstRun.get(a)! - firstRun.get(b)!);
    if (promptIds.length === 0) continue;
    const balanced = promptIds.length === firstRun.size &&
      promptIds.every((id) =>
        new Set(counts.map((t) => byThreads.get(t)!.get(id)!.length)).size === 1
      );
    const runsOf = counts.map((t) => promptIds.flatMap((id) => byThreads.get(t)!.get(id)!));
    const recommended = recommendThreads(
      counts.map((t, k) => ({
        threads: t,
        decodeTokens: runsOf[k]!.map((i) => output[i]! - 1),
        decodeMs: runsOf[k]!.map((i) => decodeMs[i]!),
      })),
      { tolerance },
    );
    const [batchSize, depthTokens] = JSON.parse(key) as [number, number];
    comparisons.push({
      depthTokens,
      batchSize,
      promptIds,
      balanced,
      rows: recommended.rows.map((row, k): ThreadsRow => {
        const indices = runsOf[k]!;
        const rates = indices.map((i) => (output[i]! - 1) / (decodeMs[i]! / 1000));
        const n = rates.length;
        const mean = rates.reduce((a, b) => a + b, 0) / n;
        const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
        return {
          threads: row.threads,
          runs: n,
          decodeTokens: indices.reduce((a, i) => a + output[i]! - 1, 0),
          decodeMs: indices.reduce((a, i) => a + decodeMs[i]!, 0),
          decodeTokensPerS: row.tokensPerS,
          runDecodeTokensPerSMedian: median(rates)!,
          runDecodeTokensPerSMean: tEstimate(
            mean,
            sd / Math.sqrt(n),
            n - 1,
            "tokens/s",
            n < 2 ? "no interval: 1 run" : `t interval over ${n} runs`,
          ),
          fastestRatio: row.fastestRatio,
          tiesFastest: row.tiesFastest,
        };
      }),
      fastest: recommended.fastest,
      best: recommended.best,
      // Two or more counts here, so `next` and `ratio` are defined.
      next: recommended.next!,
      ratio: recommended.ratio!,
      tolerance,
    });
  }
  return comparisons;
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

/** `value [low-high]`, or the value alone when the interval does not exist. */
function withInterval(e: Estimate, digits: number, suffix = ""): string {
  const value = `${e.value.toFixed(digits)}${suffix}`;
  return Number.isFinite(e.low) && Number.isFinite(e.high)
    ? `${value} [${e.low.toFixed(digits)}-${e.high.toFixed(digits)}]`
    : value;
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
        withInterval(row.runDecodeTokensPerSMean, 1),
        row.threads === c.fastest
          ? "fastest"
          : `${row.tiesFastest ? "tie " : ""}${withInterval(row.fastestRatio, 3)}`,
      ]),
      0,
    ),
    "",
  ];
  const ratio = withInterval(c.ratio, 3, "x");
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
    "latency of decode tokens; stalls = tokens slower than 3x their run's median.",
    "",
    `dataset:  ${session.sessionDir}`,
    `report:   ${session.reportCommand}`,
  );
  return `${lines.join("\n")}\n`;
}
