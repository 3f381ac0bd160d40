import assert from "node:assert/strict";
import { LAYOUT, SCHEMA } from "../../mod.ts";
import { spliceSchema } from "../_readme.ts";

Deno.test("README's schema section is the rendered SCHEMA", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  // deno fmt pads Markdown tables; compare with cell padding folded.
  const fold = (text: string): string => text.replace(/ *\| */g, "|").replace(/-{3,}/g, "---");
  assert.equal(
    fold(readme),
    fold(spliceSchema(readme)),
    "README.md schema section is stale: run `deno run -A .ci/readme_schema.ts`",
  );
});

Deno.test("SCHEMA column names are unique snake_case and durations carry a unit suffix", () => {
  for (const [table, cols] of Object.entries(SCHEMA)) {
    const names = cols.map((c) => c.name);
    assert.equal(new Set(names).size, names.length, `duplicate column in ${table}`);
    for (const col of cols) {
      assert.match(col.name, /^[a-z][a-z0-9_]*$/, `${table}.${col.name}`);
      if (col.unit === "ms") assert.match(col.name, /_ms$/, `${table}.${col.name}`);
      if (col.unit === "bytes") assert.match(col.name, /bytes$/, `${table}.${col.name}`);
    }
  }
});

Deno.test("LAYOUT file names sort in run order and never clash between tables", () => {
  assert.ok(LAYOUT.runFile("s", 9) < LAYOUT.runFile("s", 10));
  assert.notEqual(LAYOUT.runFile("s", 1), LAYOUT.tokensFile("s", 1));
  assert.equal(LAYOUT.sessionFile("s"), "session=s/session.parquet");
});
