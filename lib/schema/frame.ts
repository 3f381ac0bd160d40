/**
 * The table types of tokentrace's public API: small structural views of nodejs-polars
 * frames. Every table tokentrace returns (`readDataset()`, `simulateTrace()`, the analysis
 * results) is a real nodejs-polars `DataFrame` or `LazyDataFrame` at run time; these types
 * name only the few members tokentrace promises. For the whole Polars API, import
 * nodejs-polars yourself and cast: `frame as pl.DataFrame`.
 *
 * @module
 */

/**
 * One column of a {@linkcode Frame}. At run time it is a nodejs-polars `Series`; cast it
 * (`column as pl.Series`) for the whole Polars API.
 *
 * @example Read a column's values
 * ```ts
 * import { type FrameColumn, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const trace = simulateTrace({ repetitions: 1 });
 * const runIds: FrameColumn = trace.runs.getColumn("run_id");
 * assert.equal(runIds.name, "run_id");
 * assert.equal(runIds.length, trace.runs.height);
 * assert.equal(typeof runIds.toArray()[0], "string");
 * ```
 */
export interface FrameColumn {
  /** The column's name. */
  readonly name: string;
  /** Number of values (rows). */
  readonly length: number;
  /**
   * The values as a plain array (64-bit integers as numbers or bigints, nulls as `null`).
   *
   * @returns A new array, one entry per row.
   */
  toArray(): unknown[];
}

/**
 * An eager table: the type of every table tokentrace hands out already computed. At run
 * time it is a real nodejs-polars `DataFrame`, so code that wants the whole Polars API
 * imports nodejs-polars (`import pl from "nodejs-polars"`) and casts: `frame as pl.DataFrame`.
 *
 * @example Read a table through the promised members
 * ```ts
 * import { type Frame, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const runs: Frame = simulateTrace({ repetitions: 1 }).runs;
 * assert.equal(runs.width, runs.columns.length);
 * assert.equal(runs.getColumn("prompt_id").length, runs.height);
 * assert.equal(runs.toRecords().length, runs.height);
 * ```
 *
 * @example Use the whole Polars API by casting
 * ```ts
 * import { simulateTrace } from "@tokentrace/tokentrace";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * const runs = simulateTrace({ repetitions: 2 }).runs as pl.DataFrame;
 * const perPrompt = runs.filter(pl.col("warmup").not()).groupBy("prompt_id").len();
 * assert.deepEqual(perPrompt.getColumn("len").toArray(), [2, 2, 2, 2]);
 * ```
 */
export interface Frame {
  /** Number of rows. */
  readonly height: number;
  /** Number of columns. */
  readonly width: number;
  /** Column names, in order. */
  readonly columns: string[];
  /**
   * One column by name.
   *
   * @param name The column's name.
   * @returns The column.
   * @throws {Error} When the table has no such column (Polars' error).
   */
  getColumn(name: string): FrameColumn;
  /**
   * Every row as an object keyed by column name.
   *
   * @returns One object per row, in row order.
   */
  toRecords(): Record<string, unknown>[];
}

/**
 * A table computed on demand, such as the scanned `tokens` table of `readDataset()`. At
 * run time it is a real nodejs-polars `LazyDataFrame`: cast it (`frame as
 * pl.LazyDataFrame`) to filter or aggregate before collecting.
 *
 * @example Collect a lazy table
 * ```ts
 * import { type LazyFrame, readDataset } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const tokens: LazyFrame = (await readDataset(dir)).tokens;
 * assert.equal((await tokens.collect()).height, 0);
 * assert.equal(tokens.collectSync().columns[0], "session_id");
 * await Deno.remove(dir);
 * ```
 *
 * @example Filter with Polars before collecting
 * ```ts
 * import { readDataset } from "@tokentrace/tokentrace";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const tokens = (await readDataset(dir)).tokens as pl.LazyDataFrame;
 * const decode = tokens.filter(pl.col("phase").eq(pl.lit("decode"))).collectSync();
 * assert.equal(decode.height, 0);
 * await Deno.remove(dir);
 * ```
 */
export interface LazyFrame {
  /**
   * Computes the table without blocking the event loop.
   *
   * @returns The computed table.
   */
  collect(): Promise<Frame>;
  /**
   * Computes the table on the calling thread.
   *
   * @returns The computed table.
   */
  collectSync(): Frame;
}
