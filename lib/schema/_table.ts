/**
 * The Polars side of {@linkcode SCHEMA}: the one map from column type to Polars dtype and the one
 * builder of a table's DataFrame from columns, used by the dataset writer and reader, the
 * upgrade on read and the simulator. Internal to tokentrace (not exported from mod.ts).
 *
 * @module
 */

import pl from "nodejs-polars";
import { type ColumnType, SCHEMA, type TableName } from "./schema.ts";

/** The Polars dtype of each column type. */
export const DTYPES: Readonly<Record<ColumnType, pl.DataType>> = {
  utf8: pl.String,
  int32: pl.Int32,
  int64: pl.Int64,
  float64: pl.Float64,
  bool: pl.Bool,
};

/**
 * The Polars dtype of every column of a table, in file order, from {@linkcode SCHEMA}.
 * Internal to tokentrace (not exported from mod.ts): other modules import it from here.
 *
 * @param table The table.
 * @returns Column name to Polars dtype.
 *
 * @example The tokens table's latency column
 * ```ts
 * import { polarsSchema } from "./_table.ts";
 * import pl from "nodejs-polars";
 * import assert from "node:assert/strict";
 *
 * assert.equal(String(polarsSchema("tokens").latency_ms), String(pl.Float64));
 * ```
 */
export function polarsSchema(table: TableName): Record<string, pl.DataType> {
  return Object.fromEntries(SCHEMA[table].map((col) => [col.name, DTYPES[col.type]]));
}

/** Values of one column: a typed array or a plain array. */
export type ColumnValues = ArrayLike<unknown>;

/**
 * Builds a table's DataFrame from columns: exactly the schema's columns, in schema order,
 * with the schema's dtypes. 64-bit integer columns take plain numbers. Internal to tokentrace
 * (not exported from mod.ts): other modules import it from here.
 *
 * @param table The table.
 * @param columns One entry per schema column, all of the same length.
 * @returns The DataFrame.
 * @throws {TypeError} When a column is missing or not in the schema, or lengths differ.
 *
 * @example One tokens row
 * ```ts
 * import { tableFrame } from "./_table.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = tableFrame("tokens", {
 *   session_id: ["s"], run_id: ["s-000000"], token_index: [0], position: [12],
 *   phase: ["prefill"], token_id: [42], piece: [" hi"], piece_bytes: [3],
 *   t_ms: [20.5], latency_ms: [20.5], chunk_tokens: [1],
 * });
 * assert.equal(frame.height, 1);
 * assert.equal(frame.columns[0], "session_id");
 * ```
 */
export function tableFrame(table: TableName, columns: Record<string, ColumnValues>): pl.DataFrame {
  const names = new Set<string>(SCHEMA[table].map((col) => col.name));
  const extra = Object.keys(columns).find((name) => !names.has(name));
  if (extra !== undefined) {
    throw new TypeError(`Cannot build the ${table} table: column "${extra}" is not in the schema`);
  }
  let height: number | undefined;
  const series = SCHEMA[table].map((col) => {
    const values = columns[col.name];
    if (values === undefined) {
      throw new TypeError(`Cannot build the ${table} table: column "${col.name}" is missing`);
    }
    height ??= values.length;
    if (values.length !== height) {
      throw new TypeError(
        `Cannot build the ${table} table: column "${col.name}" has ${values.length} values, expected ${height}`,
      );
    }
    // A typed Series turns null into 0: build columns holding nulls untyped, then cast.
    const list = values as unknown[];
    return Array.prototype.some.call(list, (v) => v === null)
      ? pl.Series(col.name, list).cast(DTYPES[col.type])
      : pl.Series(col.name, list, DTYPES[col.type]);
  });
  return pl.DataFrame(series);
}

/**
 * A table with no rows, with the schema's columns and dtypes.
 *
 * @param table The table.
 * @returns The empty DataFrame.
 *
 * @example The empty runs table
 * ```ts
 * import { emptyTable } from "./_table.ts";
 * import { SCHEMA } from "./schema.ts";
 * import assert from "node:assert/strict";
 *
 * const runs = emptyTable("runs");
 * assert.equal(runs.height, 0);
 * assert.deepEqual(runs.columns, SCHEMA.runs.map((col) => col.name));
 * ```
 */
export function emptyTable(table: TableName): pl.DataFrame {
  return tableFrame(table, Object.fromEntries(SCHEMA[table].map((col) => [col.name, []])));
}
