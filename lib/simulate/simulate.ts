/**
 * Synthetic traces with known injected effects, in the dataset schema: the ground truth the
 * analysis is tested against.
 *
 * Folder `lib/simulate/`: simulated traces with known effects and realistic noise. May import:
 * analysis, schema, stats.
 *
 * @module
 */

import pl from "nodejs-polars";
import {
  DEFAULT_PROMPTS,
  runId,
  simulateColumns,
  VOCAB,
  VOCAB_BYTES,
  VOCAB_IDS,
  withDefaults,
} from "./_columns.ts";
import type { Frame } from "../schema/frame.ts";
import type { SimulatedPrompt, SimulateOptions } from "./_options.ts";
import { DTYPES, tableFrame } from "../schema/_table.ts";
import { SCHEMA, SCHEMA_VERSION } from "../schema/schema.ts";

export { DEFAULT_PROMPTS };
export type { SimulatedPrompt, SimulateOptions };

/**
 * A simulated trace: the three dataset tables as eager frames (nodejs-polars DataFrames at
 * run time).
 */
export interface SimulatedTrace {
  /** One `sessions` row. */
  readonly sessions: Frame;
  /** One `runs` row per run. */
  readonly runs: Frame;
  /** One `tokens` row per generated token. */
  readonly tokens: Frame;
}

/**
 * Simulates a trace with known effects. Decode latency of token k (k >= 1) of run i at
 * context position p is `scale * ((base + u_i + classOffset + warmup_i * penalty + drift * t_i
 * + b * p + content * piece_bytes + e_k) * (1 + A * sin(2 pi t / P + phase)) + stall)`, with a
 * run intercept `u_i ~ N(0, runSd)`, within-run noise `e_k = phi * e_(k-1) + sqrt(1 - phi^2)
 * * noiseSd * z_k` (AR(1) of stationary sd `noiseSd`; z_k standard normal, or unit-variance
 * Student t when `innovationDf` is finite), slow session drift of amplitude A and period P
 * over session time t, and a stall with probability `stallProbability`. Pieces are drawn
 * uniformly from a small vocabulary of every character class, in blocks of one class of mean
 * length `contentBlockTokens`, independently of the latency, so token content has no effect
 * unless `tokenContentUsPerByte` is set. Token 0's latency is the time to first token,
 * `scale * (prefillBase + prefillPerToken * (depth + prompt))` plus half-normal noise. Runs are
 * ordered warm-ups first, then a seeded shuffle. With the defaults (phi 0, Gaussian, blocks
 * of 1, A 0, scale 1) the noise is independent and Gaussian.
 *
 * @param options The plan and the injected effects.
 * @returns The `sessions`, `runs` and `tokens` tables with exactly the schema's columns and types.
 * @throws {RangeError} When a count is not a non-negative integer or a list is empty.
 *
 * @example Simulate a small trace
 * ```ts
 * import { SCHEMA, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const trace = simulateTrace({ seed: 7, repetitions: 2 });
 * assert.equal(trace.runs.height, 4 * 2 + 1);
 * assert.equal(trace.tokens.height, 9 * 50);
 * assert.deepEqual(trace.tokens.columns, SCHEMA.tokens.map((c) => c.name));
 * ```
 *
 * @example Realistic noise: autocorrelated, heavy-tailed, clustered and drifting
 * ```ts
 * import { simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const options = { seed: 3, arCoefficient: 0.3, innovationDf: 4, contentBlockTokens: 8 };
 * const fast = simulateTrace({ ...options, driftAmplitude: 0.04 });
 * const slow = simulateTrace({ ...options, driftAmplitude: 0.04, latencyScale: 1.5 });
 * const sum = (t: typeof fast) =>
 *   (t.tokens.getColumn("latency_ms").toArray() as number[]).reduce((a, b) => a + b, 0);
 * assert.ok(Math.abs(sum(slow) / sum(fast) - 1.5) < 1e-9);
 * ```
 */
export function simulateTrace(options: SimulateOptions = {}): SimulatedTrace {
  const { seed, modelTensorBytes } = withDefaults(options);
  const sim = simulateColumns(options);
  const { sessionId, plan, run } = sim;
  const sessions = tableFrame("sessions", {
    session_id: [sessionId],
    schema_version: [SCHEMA_VERSION],
    tool_version: ["simulated"],
    status: ["complete"],
    started_at_utc: ["2025-01-01T00:00:00Z"],
    finished_at_utc: [
      new Date(Date.UTC(2025, 0, 1) + sim.endMs).toISOString().replace(/\.\d+Z$/, "Z"),
    ],
    host: ["simulated"],
    os: ["simulated"],
    arch: ["x86_64"],
    cpu_model: ["simulated"],
    cpu_cores: [2],
    cpu_math_cores: [2],
    memory_bytes: [8 * 1024 ** 3],
    gpu_requested: ["cpu"],
    backend: ["cpu"],
    gpu_name: [""],
    gpu_vram_bytes: [0],
    threads: [1],
    batch_size: [512],
    context_size: [4096],
    flash_attention: [false],
    node_llama_cpp_version: [""],
    llama_cpp_release: [""],
    runtime_version: [""],
    source: ["in-process"],
    endpoint_url: [""],
    engine_name: ["simulated"],
    engine_version: [""],
    model_path: ["simulated.gguf"],
    model_name: ["simulated"],
    model_architecture: ["lfm2"],
    model_parameters: [354_483_968],
    model_file_bytes: [modelTensorBytes],
    model_tensor_bytes: [modelTensorBytes],
    model_quantization: ["Q8_0"],
    model_dominant_type: ["Q8_0"],
    model_type_shares: ["Q8_0:1.0000"],
    model_sha256: [""],
    model_synthetic: [true],
    model_preset: ["simulated"],
    suite: ["simulate"],
    seed: [seed],
    plan_json: [JSON.stringify({ simulate: options })],
  });

  const runIds = plan.map((_, i) => runId(sessionId, i));
  const col = <T>(f: (p: (typeof plan)[number], i: number) => T): T[] => plan.map(f);
  const decodeMs = col((_, i) => run.total[i]! - run.ttft[i]!);
  const runs = tableFrame("runs", {
    session_id: col(() => sessionId),
    run_id: runIds,
    order_index: col((_, i) => i),
    repetition: col((p) => p.repetition),
    warmup: col((p) => p.warmup),
    prompt_id: col((p) => p.prompt.id),
    prompt_class: col((p) => p.prompt.class),
    prompt_tags: col(() => ""),
    prompt_mode: col(() => "raw"),
    prompt_text: col((p) => `${p.prompt.class} prompt ${p.prompt.id}`),
    prompt_tokens: col((p) => p.prompt.promptTokens),
    depth_tokens: col((p) => p.depth),
    max_tokens: col((p) => p.prompt.maxTokens),
    threads: col(() => 1),
    batch_size: col(() => 512),
    context_size: col((p) => Math.max(4096, p.depth + p.prompt.promptTokens + p.prompt.maxTokens)),
    cpu_affinity: col(() => ""),
    temperature: col(() => 0),
    top_k: col(() => 0),
    top_p: col(() => 1),
    sampling_seed: col(() => seed),
    stop_reason: col(() => "max_tokens"),
    output_tokens: col((p) => p.prompt.maxTokens),
    started_at_ms: col((_, i) => run.started[i]!),
    prefill_ms: col((_, i) => run.ttft[i]! - 0.05),
    ttft_ms: col((_, i) => run.ttft[i]!),
    decode_ms: decodeMs,
    total_ms: col((_, i) => run.total[i]!),
    e2e_tokens_per_s: col((p, i) => (p.prompt.maxTokens / run.total[i]!) * 1000),
    decode_tokens_per_s: col((
      p,
      i,
    ) => (decodeMs[i]! > 0 ? ((p.prompt.maxTokens - 1) / decodeMs[i]!) * 1000 : 0)),
    engine_prompt_ms: col((_, i) => run.ttft[i]! - 0.1),
    engine_prompt_tokens: col((p) => p.depth + p.prompt.promptTokens),
    engine_decode_ms: col((_, i) => run.evalMs[i]!),
    engine_decode_tokens: col((p) => p.prompt.maxTokens - 1),
  });

  const runKey = pl.DataFrame({
    __run: pl.Series("__run", Int32Array.from(runIds.keys())),
    run_id: runIds,
  });
  const vocabKey = pl.DataFrame({
    __vocab: pl.Series("__vocab", Int32Array.from(VOCAB.keys())),
    token_id: pl.Series("token_id", VOCAB_IDS),
    piece: [...VOCAB],
    piece_bytes: pl.Series("piece_bytes", VOCAB_BYTES),
  });
  const t = sim.tokens;
  const tokens = pl.DataFrame({
    __run: pl.Series("__run", t.run),
    token_index: pl.Series("token_index", t.index),
    position: pl.Series("position", t.position),
    __vocab: pl.Series("__vocab", t.vocab),
    t_ms: pl.Series("t_ms", t.t),
    latency_ms: pl.Series("latency_ms", t.latency),
    chunk_tokens: pl.Series("chunk_tokens", new Int32Array(t.latency.length).fill(1)),
  })
    .join(runKey, { on: "__run", how: "left" })
    .join(vocabKey, { on: "__vocab", how: "left" })
    .select(
      ...SCHEMA.tokens.map((c) => {
        if (c.name === "session_id") return pl.lit(sessionId).alias("session_id");
        if (c.name === "phase") {
          return pl.when(pl.col("token_index").eq(0)).then(pl.lit("prefill")).otherwise(
            pl.lit("decode"),
          ).alias("phase");
        }
        return pl.col(c.name).cast(DTYPES[c.type]);
      }),
    );
  return { sessions, runs, tokens };
}
