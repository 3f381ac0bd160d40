/**
 * The run-level story: end-to-end tokens/s split into time to first token and decode rate,
 * how it moves with output and prompt length even at a flat decode rate, and the original
 * three-run table with each gap decomposed.
 *
 * @module
 */

import pl from "nodejs-polars";
import { frameColumns, lazyPolars } from "../schema/_polars.ts";
import type { Frame } from "../schema/frame.ts";
import { ols } from "../stats/ols.ts";
import { missingEstimate, tEstimate } from "../stats/stats.ts";
import { requireRuns } from "./_runstats.ts";
import { type AnalysisInput, isPrepared, prepareTrace } from "./prepare.ts";
import type { Estimate, TraceTable } from "./types.ts";

/** Options of `runStory()`. */
export interface RunStoryOptions {
  /**
   * Include warm-up runs.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
}

/** Slopes of one rate on run length, from a least-squares fit across runs. */
export interface RateSlopes {
  /** Change per 10 more output tokens. */
  readonly per10OutputTokens: Estimate;
  /** Change per 100 more prompt tokens (prompt plus depth). */
  readonly per100PromptTokens: Estimate;
}

/** Result of `runStory()`. */
export interface RunStoryResult {
  /** Runs in the analysis. */
  readonly runs: number;
  /**
   * One row per run: `run_id`, `prompt_id`, `prompt_class`, `prompt_tokens`, `depth_tokens`,
   * `output_tokens`, `ttft_ms`, `decode_ms`, `total_ms`, `e2e_tokens_per_s`,
   * `decode_tokens_per_s`, `ttft_share`.
   */
  readonly table: Frame;
  /** e2e tokens/s = output_tokens / total. */
  readonly e2e: RateSlopes;
  /** Decode tokens/s = (output_tokens - 1) / decode. */
  readonly decode: RateSlopes;
  /** Time to first token per prompt token (prompt plus depth). */
  readonly ttftPerPromptTokenMs: Estimate;
  /** Mean share of a run's total time spent before the first token, %. */
  readonly meanTtftSharePct: Estimate;
  /** Pooled decode rate, sum(output_tokens - 1) / sum(decode). */
  readonly pooledDecodeTokensPerS: number;
  /**
   * Share of the variance of e2e tokens/s across runs reproduced by each run's own time to
   * first token and output length at one common (pooled) decode rate, %.
   */
  readonly constantRateR2Pct: number;
}

/**
 * Explains end-to-end tokens/s run by run. e2e = n / (ttft + decode) mixes a fixed cost
 * (time to first token, which grows with the prompt) with the decode rate, so it rises with
 * output length and falls with prompt length even when the decode rate does not move. Fits
 * e2e and decode rates on output and prompt length (least squares across runs, t intervals),
 * fits time to first token on prompt length, and reports how much of the spread of e2e
 * tokens/s one common decode rate already reproduces.
 *
 * @param input A trace or a prepared trace.
 * @param options Warm-up handling.
 * @returns The per-run table and the fits.
 * @throws {RangeError} When fewer than 3 runs have a total time.
 *
 * @example e2e rate grows with output length at a flat decode rate
 * ```ts
 * import { runStory, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const prompts = [
 *   { id: "short", class: "simple", promptTokens: 20, maxTokens: 10 },
 *   { id: "long", class: "simple", promptTokens: 20, maxTokens: 80 },
 * ];
 * const story = runStory(simulateTrace({ prompts, prefillBaseMs: 100 }));
 * assert.ok(story.e2e.per10OutputTokens.low > 0);
 * assert.ok(story.constantRateR2Pct > 80);
 * ```
 */
export function runStory(input: AnalysisInput, options: RunStoryOptions = {}): RunStoryResult {
  const { includeWarmup = false } = options;
  const prep = prepareTrace(input);
  const r = prep.runs;
  const units: number[] = [];
  for (let i = 0; i < r.count; i++) {
    if (r.totalMs[i]! > 0 && (includeWarmup || r.warmup[i] === 0)) units.push(i);
  }
  requireRuns(units, { action: "Cannot explain the run rates", min: 3, run: "timed run" });
  const get = (a: Float64Array): Float64Array => Float64Array.from(units, (i) => a[i]!);
  const n = get(r.outputTokens);
  const prompt = Float64Array.from(units, (i) => r.promptTokens[i]! + r.depthTokens[i]!);
  const ttft = get(r.ttftMs);
  const decodeMs = get(r.decodeMs);
  const total = get(r.totalMs);
  const e2e = n.map((v, j) => (v / total[j]!) * 1000);
  const rate = n.map((v, j) => (decodeMs[j]! > 0 ? ((v - 1) / decodeMs[j]!) * 1000 : Number.NaN));
  const share = ttft.map((v, j) => v / total[j]!);

  const method = `least squares across ${units.length} runs, t interval`;
  const slopes = (y: Float64Array, unit: string): RateSlopes => {
    const keep = Array.from(y.keys()).filter((j) => Number.isFinite(y[j]!));
    const fit = ols([keep.map((j) => n[j]!), keep.map((j) => prompt[j]!)], keep.map((j) => y[j]!));
    const term = (c: number, scale: number, what: string): Estimate =>
      Number.isFinite(fit.coef[c]!)
        ? tEstimate(fit.coef[c]! * scale, fit.se[c]! * scale, fit.df, unit + what, method)
        : missingEstimate(
          unit + what,
          `${c === 0 ? "output" : "prompt"} length does not vary across runs`,
        );
    return {
      per10OutputTokens: term(0, 10, " per 10 output tokens"),
      per100PromptTokens: term(1, 100, " per 100 prompt tokens"),
    };
  };
  const ttftFit = ols([prompt], ttft);
  let sumDecodeTokens = 0, sumDecodeMs = 0;
  n.forEach((v, j) => {
    sumDecodeTokens += v - 1;
    sumDecodeMs += decodeMs[j]!;
  });
  const pooled = sumDecodeMs > 0 ? (sumDecodeTokens / sumDecodeMs) * 1000 : Number.NaN;
  let rss = 0, tss = 0, mean = 0;
  e2e.forEach((v) => (mean += v / e2e.length));
  e2e.forEach((v, j) => {
    const predicted = (n[j]! / (ttft[j]! + ((n[j]! - 1) / pooled) * 1000)) * 1000;
    rss += (v - predicted) ** 2;
    tss += (v - mean) ** 2;
  });
  let shareMean = 0, shareSs = 0;
  share.forEach((v) => (shareMean += v / share.length));
  share.forEach((v) => (shareSs += (v - shareMean) ** 2));
  const shareSe = Math.sqrt(shareSs / (share.length - 1) / share.length);

  return {
    runs: units.length,
    table: pl.DataFrame({
      run_id: units.map((i) => r.runId[i]!),
      prompt_id: units.map((i) => r.promptId[i]!),
      prompt_class: units.map((i) => prep.classes[r.promptClass[i]!]!),
      prompt_tokens: pl.Series("prompt_tokens", units.map((i) => r.promptTokens[i]!), pl.Int32),
      depth_tokens: pl.Series("depth_tokens", units.map((i) => r.depthTokens[i]!), pl.Int32),
      output_tokens: pl.Series("output_tokens", Array.from(n), pl.Int32),
      ttft_ms: pl.Series("ttft_ms", ttft),
      decode_ms: pl.Series("decode_ms", decodeMs),
      total_ms: pl.Series("total_ms", total),
      e2e_tokens_per_s: pl.Series("e2e_tokens_per_s", e2e),
      decode_tokens_per_s: pl.Series("decode_tokens_per_s", rate),
      ttft_share: pl.Series("ttft_share", share),
    }),
    e2e: slopes(e2e, "tokens/s"),
    decode: slopes(rate, "tokens/s"),
    ttftPerPromptTokenMs: Number.isFinite(ttftFit.coef[0]!)
      ? tEstimate(ttftFit.coef[0]!, ttftFit.se[0]!, ttftFit.df, "ms per prompt token", method)
      : missingEstimate("ms per prompt token", "prompt length does not vary across runs"),
    meanTtftSharePct: tEstimate(
      shareMean * 100,
      shareSe * 100,
      share.length - 1,
      "% of run time",
      `mean over ${units.length} runs, t interval`,
    ),
    pooledDecodeTokensPerS: pooled,
    constantRateR2Pct: tss > 0 ? (1 - rss / tss) * 100 : Number.NaN,
  };
}

/** Options of `originalTable()`. */
export interface OriginalTableOptions {
  /**
   * Prompts to tabulate, in row order (default: every prompt, in order of first run).
   *
   * @default {undefined}
   */
  promptIds?: readonly string[];
  /**
   * Include warm-up runs.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
}

/** Result of `originalTable()`. */
export interface OriginalTableResult {
  /**
   * One row per prompt: `prompt_id`, `runs`, `output_tokens`, `total_s`, `e2e_tokens_per_s`,
   * `ttft_ms`, `decode_ms`, `decode_tokens_per_s` (means over the prompt's runs; the rates
   * from those means).
   */
  readonly rows: Frame;
  /**
   * One row per pair of prompts: `from`, `to`, `gap_tokens_per_s` (e2e of `to` minus `from`)
   * and its exact split into `ttft_part` (a different time to first token), `output_length_part`
   * (the same fixed costs spread over a different number of tokens) and `decode_rate_part`
   * (a different decode rate).
   */
  readonly gaps: Frame;
  /** Arithmetic mean of the rows' e2e tokens/s (how "~54 t/s" was computed). */
  readonly naiveMeanTokensPerS: number;
  /** Total tokens over total time of the rows. */
  readonly pooledTokensPerS: number;
  /** Total decode tokens over total decode time of the rows. */
  readonly pooledDecodeTokensPerS: number;
}

/**
 * Rebuilds the original write-up's table (prompt, tokens, time, e2e tokens/s) from runs and
 * decomposes each pair's e2e gap exactly: with time per token tau = ttft / n + decode / n,
 * e2e = 1000 / tau, so a gap is -1000 * delta(tau) / (tau_a * tau_b), and delta(tau) splits by the
 * two-factor (Shapley) rule into a change of time to first token, a change of output length
 * (which spreads the fixed costs differently) and a change of decode rate.
 *
 * @param runs A runs table (or a trace, or a prepared trace).
 * @param options Prompts to show and warm-up handling.
 * @returns The table, the gap decomposition and the naive vs pooled averages.
 * @throws {RangeError} When a requested prompt has no run.
 *
 * @example Three runs like the original
 * ```ts
 * import { originalTable, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const prompts = [
 *   { id: "languages", class: "simple", promptTokens: 20, maxTokens: 30 },
 *   { id: "count", class: "simple", promptTokens: 16, maxTokens: 30 },
 *   { id: "explain", class: "complex", promptTokens: 24, maxTokens: 50 },
 * ];
 * const trace = simulateTrace({ prompts, repetitions: 1, warmupRuns: 0 });
 * const t = originalTable(trace.runs);
 * assert.equal(t.rows.height, 3);
 * assert.equal(t.gaps.height, 3);
 * const first = (name: string): number => t.gaps.getColumn(name).toArray()[0] as number;
 * const parts = first("ttft_part") + first("output_length_part") + first("decode_rate_part");
 * assert.ok(Math.abs(first("gap_tokens_per_s") - parts) < 1e-9);
 * ```
 */
export function originalTable(
  runs: TraceTable | AnalysisInput,
  options: OriginalTableOptions = {},
): OriginalTableResult {
  const { promptIds, includeWarmup = false } = options;
  const rows = runRows(runs).filter((row) => includeWarmup || !row.warmup);
  const order = promptIds ?? [...new Set(rows.map((row) => row.promptId))];
  const table = order.map((id) => {
    const mine = rows.filter((row) => row.promptId === id);
    if (mine.length === 0) {
      throw new RangeError(`Cannot build the table: prompt "${id}" must have a run, found none`);
    }
    const avg = (f: (row: RunRow) => number): number =>
      mine.reduce((s, row) => s + f(row), 0) / mine.length;
    const n = avg((row) => row.outputTokens);
    const ttft = avg((row) => row.ttftMs);
    const decode = avg((row) => row.decodeMs);
    return { id, runs: mine.length, n, ttft, decode };
  });
  const e2e = (t: (typeof table)[number]): number => (t.n / (t.ttft + t.decode)) * 1000;
  const invRate = (t: (typeof table)[number]): number => (t.n > 1 ? t.decode / (t.n - 1) : 0);
  const gaps: {
    from: string;
    to: string;
    gap: number;
    ttft: number;
    length: number;
    rate: number;
  }[] = [];
  for (let a = 0; a < table.length; a++) {
    for (let b = a + 1; b < table.length; b++) {
      const x = table[a]!, y = table[b]!;
      const tauX = (x.ttft + x.decode) / x.n, tauY = (y.ttft + y.decode) / y.n;
      const factor = -1000 / (tauX * tauY);
      const meanInvN = (1 / x.n + 1 / y.n) / 2;
      const dInvN = 1 / y.n - 1 / x.n;
      const ttftPart = factor * (y.ttft - x.ttft) * meanInvN;
      const amortise = factor * ((x.ttft + y.ttft) / 2) * dInvN;
      // decode / n = (1 - 1/n) * (decode ms per decode token)
      const fx = 1 - 1 / x.n, fy = 1 - 1 / y.n;
      const lengthPart = amortise + factor * (fy - fx) * ((invRate(x) + invRate(y)) / 2);
      const ratePart = factor * ((fx + fy) / 2) * (invRate(y) - invRate(x));
      gaps.push({
        from: x.id,
        to: y.id,
        gap: e2e(y) - e2e(x),
        ttft: ttftPart,
        length: lengthPart,
        rate: ratePart,
      });
    }
  }
  const sum = (f: (t: (typeof table)[number]) => number): number =>
    table.reduce((s, t) => s + f(t), 0);
  return {
    rows: pl.DataFrame({
      prompt_id: table.map((t) => t.id),
      runs: pl.Series("runs", table.map((t) => t.runs), pl.Int32),
      output_tokens: pl.Series("output_tokens", table.map((t) => t.n), pl.Float64),
      total_s: pl.Series("total_s", table.map((t) => (t.ttft + t.decode) / 1000), pl.Float64),
      e2e_tokens_per_s: pl.Series("e2e_tokens_per_s", table.map(e2e), pl.Float64),
      ttft_ms: pl.Series("ttft_ms", table.map((t) => t.ttft), pl.Float64),
      decode_ms: pl.Series("decode_ms", table.map((t) => t.decode), pl.Float64),
      decode_tokens_per_s: pl.Series(
        "decode_tokens_per_s",
        table.map((t) => (t.decode > 0 ? ((t.n - 1) / t.decode) * 1000 : Number.NaN)),
        pl.Float64,
      ),
    }),
    gaps: pl.DataFrame({
      from: gaps.map((g) => g.from),
      to: gaps.map((g) => g.to),
      gap_tokens_per_s: pl.Series("gap_tokens_per_s", gaps.map((g) => g.gap), pl.Float64),
      ttft_part: pl.Series("ttft_part", gaps.map((g) => g.ttft), pl.Float64),
      output_length_part: pl.Series("output_length_part", gaps.map((g) => g.length), pl.Float64),
      decode_rate_part: pl.Series("decode_rate_part", gaps.map((g) => g.rate), pl.Float64),
    }),
    naiveMeanTokensPerS: sum(e2e) / table.length,
    pooledTokensPerS: (sum((t) => t.n) / sum((t) => t.ttft + t.decode)) * 1000,
    pooledDecodeTokensPerS: (sum((t) => t.n - 1) / sum((t) => t.decode)) * 1000,
  };
}

interface RunRow {
  promptId: string;
  warmup: boolean;
  outputTokens: number;
  ttftMs: number;
  decodeMs: number;
}

function runRows(input: TraceTable | AnalysisInput): RunRow[] {
  if (isPrepared(input as AnalysisInput)) {
    const prepared = input as ReturnType<typeof prepareTrace>;
    const r = prepared.runs;
    return Array.from({ length: r.count }, (_, i) => ({
      promptId: r.promptId[i]!,
      warmup: r.warmup[i] === 1,
      outputTokens: r.outputTokens[i]!,
      ttftMs: r.ttftMs[i]!,
      decodeMs: r.decodeMs[i]!,
    }));
  }
  const table = "runs" in input && "tokens" in input
    ? (input as { runs: TraceTable }).runs
    : (input as TraceTable);
  const needed = [
    "session_id",
    "order_index",
    "prompt_id",
    "warmup",
    "output_tokens",
    "ttft_ms",
    "decode_ms",
  ];
  const what = "the runs table";
  const have = new Set(frameColumns(table, what));
  const missing = needed.find((c) => !have.has(c));
  if (missing !== undefined) {
    throw new TypeError(
      `Cannot build the table: the runs table must have column "${missing}", found none`,
    );
  }
  const df = lazyPolars(table, what).select(...needed).sort(["session_id", "order_index"])
    .collectSync();
  const records = df.toRecords() as Record<string, unknown>[];
  return records.map((rec) => ({
    promptId: String(rec.prompt_id),
    warmup: rec.warmup === true,
    outputTokens: Number(rec.output_tokens),
    ttftMs: Number(rec.ttft_ms),
    decodeMs: Number(rec.decode_ms),
  }));
}
