import assert from "node:assert/strict";
import pl from "nodejs-polars";
import {
  type ColumnName,
  type ColumnType,
  type RunRow,
  SCHEMA,
  type SessionRow,
  type TableName,
  type TableRow,
} from "../../mod.ts";
import { DTYPES, emptyTable, polarsSchema, tableFrame } from "../../lib/schema/_table.ts";

const TABLES = Object.keys(SCHEMA) as TableName[];

/** True when A and B are the same union of keys (checked by `deno test`'s type check). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

Deno.test("`TableRow`, `SessionRow` and `RunRow` have exactly the schema's columns", () => {
  const sessions: Same<keyof SessionRow, ColumnName<"sessions">> = true;
  const runs: Same<keyof RunRow, ColumnName<"runs">> = true;
  const tokens: Same<keyof TableRow<"tokens">, ColumnName<"tokens">> = true;
  assert.deepEqual([sessions, runs, tokens], [true, true, true]);
  const row: TableRow<"tokens"> = {
    session_id: "s",
    run_id: "s-000000",
    token_index: 0,
    position: 12,
    phase: "prefill",
    token_id: 42,
    piece: " hi",
    piece_bytes: 3,
    t_ms: 20.5,
    latency_ms: 20.5,
    chunk_tokens: 1,
  };
  assert.deepEqual(Object.keys(row), SCHEMA.tokens.map((col) => col.name));
});

Deno.test("`DTYPES` maps every column type, and `polarsSchema()` follows the schema", () => {
  const types: ColumnType[] = ["utf8", "int32", "int64", "float64", "bool"];
  assert.deepEqual(Object.keys(DTYPES).sort(), [...types].sort());
  for (const table of TABLES) {
    const schema = polarsSchema(table);
    assert.deepEqual(Object.keys(schema), SCHEMA[table].map((col) => col.name));
    for (const col of SCHEMA[table]) {
      assert.equal(String(schema[col.name]), String(DTYPES[col.type]));
    }
  }
});

Deno.test("`emptyTable()` has the schema's columns and dtypes and no rows", () => {
  for (const table of TABLES) {
    const frame = emptyTable(table);
    assert.equal(frame.height, 0);
    assert.deepEqual(frame.columns, SCHEMA[table].map((col) => col.name));
    assert.deepEqual(
      frame.dtypes.map(String),
      SCHEMA[table].map((col) => String(DTYPES[col.type])),
    );
  }
});

Deno.test("`tableFrame()` keeps nulls and refuses columns of different lengths", () => {
  const columns = Object.fromEntries(SCHEMA.runs.map((col) => [col.name, [null, null]]));
  const frame = tableFrame("runs", { ...columns, threads: [null, 2], prompt_id: ["a", "b"] });
  assert.deepEqual(frame.getColumn("threads").toArray(), [null, 2]);
  assert.equal(String(frame.getColumn("threads").dtype), String(pl.Int32));
  assert.throws(() => tableFrame("runs", { ...columns, threads: [1] }), {
    name: "TypeError",
    message: 'Cannot build the runs table: column "threads" has 1 values, expected 2',
  });
});
