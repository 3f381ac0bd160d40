// The layout of lib/: one folder per concept, dependencies one way. Each folder may import
// only the folders listed for it here (and itself); the folder's main file says the same in
// its module comment. A new folder or import has to be added here on purpose.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../../lib/", import.meta.url));

/** Folder -> the folders it may import, and the file whose module comment describes it. */
const LAYERS: Readonly<Record<string, { mayImport: readonly string[]; main: string }>> = {
  schema: { mayImport: [], main: "schema.ts" },
  stats: { mayImport: [], main: "stats.ts" },
  runtime: { mayImport: [], main: "pool.ts" },
  gguf: { mayImport: ["schema", "stats"], main: "reader.ts" },
  synth: { mayImport: ["gguf", "schema", "stats"], main: "synth.ts" },
  tracer: { mayImport: ["gguf", "runtime", "schema", "stats"], main: "tracer.ts" },
  endpoint: { mayImport: ["tracer", "gguf", "schema", "stats"], main: "endpoint.ts" },
  dataset: { mayImport: ["tracer", "schema", "stats"], main: "dataset.ts" },
  experiment: {
    mayImport: ["dataset", "tracer", "runtime", "gguf", "schema", "stats"],
    main: "run.ts",
  },
  analysis: { mayImport: ["schema", "stats"], main: "analyze.ts" },
  simulate: { mayImport: ["analysis", "schema", "stats"], main: "simulate.ts" },
  compare: { mayImport: ["analysis", "schema", "stats"], main: "compare.ts" },
  present: {
    mayImport: ["compare", "analysis", "experiment", "gguf", "schema", "stats"],
    main: "report.ts",
  },
  cli: {
    mayImport: [
      "present",
      "compare",
      "simulate",
      "analysis",
      "experiment",
      "dataset",
      "endpoint",
      "tracer",
      "synth",
      "gguf",
      "runtime",
      "schema",
      "stats",
    ],
    main: "../cli.ts",
  },
};

/** Relative imports of every .ts file under lib/, as [importer, imported] paths from lib/. */
async function imports(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(`${LIB}${dir}`)) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) await walk(rel);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(`${LIB}${rel}`);
        // code only: a doc example's import stands after a `*` on its line
        for (const m of text.matchAll(/^(?:import|export)[^;]*?from\s+"(\.[^"]+)"/gms)) {
          if (!m[1]!.endsWith(".ts")) continue; // JSON data files, not modules of lib/
          out.push([rel, new URL(m[1]!, `file:///${rel}`).pathname.slice(1)]);
        }
        for (const m of text.matchAll(/^[^*\n]*import\("(\.[^"]+)"\)/gm)) {
          out.push([rel, new URL(m[1]!, `file:///${rel}`).pathname.slice(1)]);
        }
      }
    }
  };
  await walk("");
  return out;
}

const folderOf = (path: string): string => path.includes("/") ? path.split("/")[0]! : "";

Deno.test("lib/ holds one folder per concept and at most 2 .ts files directly in it", async () => {
  const files: string[] = [];
  const folders: string[] = [];
  for await (const e of Deno.readDir(LIB)) (e.isDirectory ? folders : files).push(e.name);
  assert.ok(files.filter((f) => f.endsWith(".ts")).length <= 2, `lib/ has ${files.join(", ")}`);
  assert.deepEqual(folders.sort(), Object.keys(LAYERS).sort());
});

Deno.test("every import under lib/ follows the layer table, so there are no cycles", async () => {
  const wrong: string[] = [];
  for (const [from, to] of await imports()) {
    const a = folderOf(from), b = folderOf(to);
    if (a === b || a === "") continue; // within a folder, or the lib/cli.ts entry
    if (b === "" || !LAYERS[a]?.mayImport.includes(b)) wrong.push(`${from} imports ${to}`);
  }
  assert.deepEqual(wrong, []);
});

Deno.test("imports within one file's folder have no cycle", async () => {
  const graph = new Map<string, string[]>();
  for (const [from, to] of await imports()) {
    if (folderOf(from) !== folderOf(to) || from === to) continue;
    graph.set(from, [...(graph.get(from) ?? []), to]);
  }
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]): void => {
    state.set(node, 1);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 1) cycles.push([...path, node, next].join(" -> "));
      else if (!state.has(next)) visit(next, [...path, node]);
    }
    state.set(node, 2);
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node, []);
  assert.deepEqual(cycles, []);
});

Deno.test("each folder's main file says what the folder owns and may import", async () => {
  for (const [folder, { mayImport, main }] of Object.entries(LAYERS)) {
    const text = await Deno.readTextFile(`${LIB}${folder}/${main}`);
    const head = text.slice(0, text.indexOf("@module"));
    assert.match(head, new RegExp(`Folder\\s+(?:\\*\\s+)?\`lib/${folder}/\``), `${folder}/${main}`);
    const said = head.match(/May\s+(?:\*\s+)?import:\s+([^.]*)\./)?.[1];
    const expected = mayImport.length === 0 ? "nothing else in lib/" : mayImport.join(", ");
    assert.equal(said?.replace(/\s*\*\s*/g, " ").replace(/`/g, "").trim(), expected, folder);
  }
});
