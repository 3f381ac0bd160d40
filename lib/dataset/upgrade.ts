/**
 * Upgrading on read: the dataset reader turns the tables of a session written with an older
 * schema version into the current schema's columns, one version step at a time, without
 * touching the files. Sessions older than {@linkcode OLDEST_UPGRADABLE_VERSION} are refused.
 *
 * @module
 */

import pl from "nodejs-polars";
import { DTYPES } from "../schema/_table.ts";
import { SCHEMA, SCHEMA_VERSION, type TableName } from "../schema/schema.ts";

/** The oldest schema version whose files the reader upgrades; older ones are refused. */
export const OLDEST_UPGRADABLE_VERSION = 2;

/**
 * Schema 2 to 3: the `runs.llama_*` counters become the engine-neutral `runs.engine_*`
 * (same values: version 2 sessions were all traced in-process by llama.cpp), and sessions gain
 * their source: `source` `in-process`, `endpoint_url` empty, `engine_name` `llama.cpp` and
 * `engine_version` the session's `llama_cpp_release`; tokens gain `chunk_tokens` 1. Version
 * 2's `model_quantization` was the dominant tensor type: it becomes `model_dominant_type` too
 * (and stays the `model_quantization`, unknown as a file type then), and `model_type_shares`
 * is empty (unknown).
 *
 * New session columns of schema 3 add their version 2 value to `sessionColumns` below.
 */
function upgradeV2ToV3(table: TableName, frame: pl.LazyDataFrame): pl.LazyDataFrame {
  if (table === "runs") {
    return frame.rename({
      llama_prompt_eval_ms: "engine_prompt_ms",
      llama_prompt_eval_tokens: "engine_prompt_tokens",
      llama_eval_ms: "engine_decode_ms",
      llama_eval_tokens: "engine_decode_tokens",
    });
  }
  if (table === "sessions") {
    const sessionColumns: pl.Expr[] = [
      pl.lit("in-process").alias("source"),
      pl.lit("").alias("endpoint_url"),
      pl.lit("llama.cpp").alias("engine_name"),
      pl.col("llama_cpp_release").alias("engine_version"),
      pl.col("model_quantization").alias("model_dominant_type"),
      pl.lit("").alias("model_type_shares"),
    ];
    return frame.withColumns(...sessionColumns);
  }
  // Every version 2 token was traced in-process: one token per read.
  return frame.withColumns(pl.lit(1).cast(pl.Int32).alias("chunk_tokens"));
}

/** One step per version: `STEPS[v]` upgrades version v's tables to version v + 1. */
const STEPS: Readonly<
  Record<number, (table: TableName, frame: pl.LazyDataFrame) => pl.LazyDataFrame>
> = {
  2: upgradeV2ToV3,
};

/**
 * Upgrades one table of a session written with schema version `fromVersion` to the current
 * schema ({@linkcode SCHEMA}, version {@linkcode SCHEMA_VERSION}): applies each version step in
 * turn, then selects the schema's columns in schema order with the schema's types. The
 * `schema_version` column keeps the version the files were written with. Internal to
 * tokentrace (the dataset reader calls it).
 *
 * @param table The table the frame holds.
 * @param fromVersion The session's `schema_version`.
 * @param frame The table as read from its files.
 * @returns The table with the current schema's columns.
 * @throws {RangeError} When `fromVersion` is older than {@linkcode OLDEST_UPGRADABLE_VERSION} or
 * newer than the current version.
 * @throws {Error} From Polars, when the frame lacks a column the upgrade needs (a foreign file).
 *
 * @example Upgrade a version 2 tokens table (it gains `chunk_tokens` 1); refuse version 1
 * ```ts
 * import { upgradeTable } from "./upgrade.ts";
 * import { tableFrame } from "../schema/_table.ts";
 * import assert from "node:assert/strict";
 *
 * const v2 = tableFrame("tokens", {
 *   session_id: ["s"], run_id: ["s-000000"], token_index: [0], position: [12],
 *   phase: ["prefill"], token_id: [42], piece: [" hi"], piece_bytes: [3],
 *   t_ms: [20.5], latency_ms: [20.5], chunk_tokens: [1],
 * });
 * const v3 = upgradeTable("tokens", 2, v2.drop("chunk_tokens").lazy()).collectSync();
 * assert.deepEqual(v3.columns, v2.columns);
 * assert.equal(v3.getColumn("t_ms").get(0), 20.5);
 * assert.equal(v3.getColumn("chunk_tokens").get(0), 1);
 * assert.throws(() => upgradeTable("tokens", 1, v2.lazy()), RangeError);
 * ```
 */
export function upgradeTable(
  table: TableName,
  fromVersion: number,
  frame: pl.LazyDataFrame,
): pl.LazyDataFrame {
  if (
    !Number.isInteger(fromVersion) || fromVersion < OLDEST_UPGRADABLE_VERSION ||
    fromVersion > SCHEMA_VERSION
  ) {
    throw new RangeError(
      `Cannot upgrade the ${table} table from schema version ${fromVersion}: this tokentrace upgrades versions ${OLDEST_UPGRADABLE_VERSION} to ${
        SCHEMA_VERSION - 1
      }`,
    );
  }
  let upgraded = frame;
  for (let version = fromVersion; version < SCHEMA_VERSION; version++) {
    upgraded = STEPS[version]!(table, upgraded);
  }
  if (fromVersion === SCHEMA_VERSION) return upgraded;
  return upgraded.select(
    ...SCHEMA[table].map((col) => pl.col(col.name).cast(DTYPES[col.type]).alias(col.name)),
  );
}
