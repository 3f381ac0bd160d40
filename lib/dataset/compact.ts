/**
 * Compaction: merging a session's per-run files (one pair per run, written as each run
 * finishes) into one range file pair, crash-safely, so the session reads in one scan.
 *
 * @module
 */

import pl from "nodejs-polars";
import { emptyTable } from "../schema/_table.ts";
import { LAYOUT } from "../schema/schema.ts";
import { DatasetError } from "./dataset.ts";
import { firstLine, sinkAtomic, writeAtomic } from "./_files.ts";
import { openSessionDir, readChecked, readRunFiles, settleSession, strictScan } from "./read.ts";

/** What {@linkcode compactSession} merged. */
export interface CompactionResult {
  /** Runs merged into the new range file pair; 0 when the session had no per-run files. */
  runs: number;
  /** Token rows merged: the sum of the merged runs' `output_tokens`. */
  tokens: number;
}

/** Merges a session's per-run files into one range file pair (see `compactSession()`). */
export async function compact(datasetDir: string, sessionId: string): Promise<CompactionResult> {
  const sessionDir = `${datasetDir}/${LAYOUT.sessionDir(sessionId)}`;
  const state = await settleSession(sessionDir);
  const orders = [...state.runFiles.keys()].sort((a, b) => a - b);
  if (orders.length === 0) return { runs: 0, tokens: 0 };
  const first = orders[0]!;
  const last = orders[orders.length - 1]!;
  // Every per-run runs file left is uncovered, so the glob reads exactly them.
  const runs = readRunFiles(sessionDir, `${sessionDir}/runs/run-*.parquet`, [
    ...state.runFiles.values(),
  ]).sort("order_index");
  // Tokens of runs in flight (no runs file) stay out, by the semi join.
  const tokens = state.tokenFiles.size === 0
    ? emptyTable("tokens").lazy()
    : pl.scanParquet(`${sessionDir}/tokens/run-*.parquet`, strictScan("tokens"))
      .join(runs.select("run_id").lazy(), { on: "run_id", how: "semi" });
  try {
    await sinkAtomic(tokens, `${datasetDir}/${LAYOUT.tokensRangeFile(sessionId, first, last)}`);
  } catch (error) {
    for (const path of state.tokenFiles.values()) readChecked(path, "tokens", true);
    throw new DatasetError(
      `Cannot compact session "${sessionDir}": ${firstLine(error)}`,
      sessionDir,
    );
  }
  await writeAtomic(runs, `${datasetDir}/${LAYOUT.runsRangeFile(sessionId, first, last)}`);
  for (const order of orders) await Deno.remove(state.runFiles.get(order)!);
  for (const order of orders) {
    const path = state.tokenFiles.get(order);
    if (path !== undefined) await Deno.remove(path);
  }
  const outputTokens = runs.getColumn("output_tokens").toTypedArray() as Int32Array;
  return { runs: orders.length, tokens: outputTokens.reduce((a, b) => a + b, 0) };
}

/**
 * Merges a session's per-run files (`run-NNNNNN.parquet`, one pair per run) into one range file
 * pair `runs-AAAAAA-BBBBBB.parquet` (AAAAAA and BBBBBB the smallest and largest merged
 * `order_index`): the tokens file first, then the runs file, each through a temporary name and
 * a rename, then deletes the per-run files it merged. {@linkcode DatasetWriter.finish} calls it;
 * call it yourself on a session written before, or one whose writer died. Range files already
 * there stay as they are; tokens of a run in flight (no runs file) stay in their per-run file.
 *
 * Crash safety: until the runs range file is renamed into place, readers see the per-run
 * files; after it, they ignore per-run files of the runs it holds, and the next compaction (or
 * {@linkcode DatasetWriter.resume}) deletes them. Do not call it on a session another process is
 * writing.
 *
 * @param sessionDir The `session=<id>` directory.
 * @returns How many runs and token rows were merged (0 and 0 when there were no per-run files).
 * @throws {DatasetError} When the session file or a data file is missing, foreign or corrupt.
 *
 * @example Compact a session written run by run
 * ```ts
 * import { compactSession, DatasetWriter, readDataset, type SessionInfo } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const info = { host: "h", os: "Linux", arch: "x86_64", cpu_model: "cpu", cpu_cores: 2,
 *   cpu_math_cores: 2, memory_bytes: 1, gpu_requested: "cpu", backend: "cpu", gpu_name: "",
 *   gpu_vram_bytes: 0, threads: 1, batch_size: 512, context_size: 4096,
 *   flash_attention: false, node_llama_cpp_version: "3.21.1", llama_cpp_release: "x",
 *   runtime_version: "Deno", source: "in-process", endpoint_url: "", engine_name: "llama.cpp",
 *   engine_version: "x", model_path: "m.gguf", model_name: "m", model_architecture: "lfm2",
 *   model_parameters: 1, model_file_bytes: 1, model_tensor_bytes: 1, model_quantization: "Q8_0",
 *   model_dominant_type: "Q8_0", model_type_shares: "Q8_0:1", model_sha256: "0",
 *   model_synthetic: true, model_preset: "lfm2-tiny" } satisfies SessionInfo;
 * const writer = await DatasetWriter.create(dir, info);
 * for (const order of [0, 1, 2]) {
 *   await writer.writeRun({
 *     order_index: order, repetition: order, warmup: false, prompt_id: "p", prompt_class: "",
 *     prompt_tags: "", prompt_mode: "raw", prompt_text: "Hi", prompt_tokens: 2, depth_tokens: 0,
 *     max_tokens: 1, threads: 1, batch_size: 512, context_size: 4096, cpu_affinity: "",
 *     temperature: 0, top_k: 40, top_p: 0.95, sampling_seed: 0, stop_reason: "max_tokens", output_tokens: 1,
 *     started_at_ms: 0, prefill_ms: 20, ttft_ms: 21, decode_ms: 0, total_ms: 21,
 *     e2e_tokens_per_s: 1000 / 21, decode_tokens_per_s: NaN, engine_prompt_ms: 19,
 *     engine_prompt_tokens: 2, engine_decode_ms: 0, engine_decode_tokens: 0,
 *   }, {
 *     token_index: Int32Array.of(0), position: Int32Array.of(2), phase: ["prefill"],
 *     token_id: Int32Array.of(7), piece: ["!"], piece_bytes: Int32Array.of(1),
 *     t_ms: Float64Array.of(21), latency_ms: Float64Array.of(21), chunk_tokens: Int32Array.of(1),
 *   });
 * }
 * assert.deepEqual(await compactSession(writer.sessionDir), { runs: 3, tokens: 3 });
 * const files = await Array.fromAsync(Deno.readDir(`${writer.sessionDir}/runs`));
 * assert.deepEqual(files.map((f) => f.name), ["runs-000000-000002.parquet"]);
 * assert.equal((await readDataset(dir)).runs.height, 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function compactSession(sessionDir: string): Promise<CompactionResult> {
  const { datasetDir, sessionId } = openSessionDir(sessionDir, "compact");
  return await compact(datasetDir, sessionId);
}
