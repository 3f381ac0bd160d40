import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const decoder = new TextDecoder();

Deno.test("notebooks type-check, run headless without errors or lost outputs, and export with their charts", async () => {
  // .ci/notebooks/run.ts does the work (see its header); this test fails when it does.
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ".ci/notebooks/run.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    code,
    0,
    `.ci/notebooks/run.ts failed:\n${decoder.decode(stdout)}\n${decoder.decode(stderr)}`,
  );
});

function notebook(cells: { source: string; tags?: string[] }[]): string {
  return JSON.stringify({
    cells: cells.map(({ source, tags = [] }) => ({
      cell_type: "code",
      execution_count: null,
      metadata: { tags },
      outputs: [],
      source,
    })),
    metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

Deno.test("the notebook executor fails on an error, stderr, a cell without output and a missing chart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-notebooks-" });
  try {
    const cases: Record<string, { source: string; tags?: string[] }[]> = {
      "good.ipynb": [
        { source: "const n: number = 2;\nn * 21" },
        { source: 'Deno.jupyter.svg`<svg width="4" height="4"></svg>`', tags: ["chart"] },
        { source: "const quiet = 1;", tags: ["no-output"] },
      ],
      "throws.ipynb": [{ source: 'throw new Error("boom")' }, { source: "1" }],
      "stderr.ipynb": [{ source: 'console.error("oops"); 1' }],
      "silent.ipynb": [{ source: "const x = 1;" }],
      "no-chart.ipynb": [{ source: "42", tags: ["chart"] }],
    };
    for (const [name, cells] of Object.entries(cases)) {
      await Deno.writeTextFile(join(dir, name), notebook(cells));
    }
    const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
      args: [
        join(ROOT, ".ci/notebooks/execute.py"),
        join(dir, "out"),
        ...Object.keys(cases).map((name) => join(dir, name)),
      ],
      env: {
        JUPYTER_PATH: join(ROOT, ".ci/notebooks"),
        PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH")}`,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = decoder.decode(stdout), err = decoder.decode(stderr);
    assert.equal(code, 1, out + err);
    assert.match(out, /^good\.ipynb: 3 code cells, 1 charts/m);
    assert.doesNotMatch(err, /^good\.ipynb/m);
    assert.match(err, /^throws\.ipynb: cell 0 failed: Error: boom$/m);
    assert.match(err, /^stderr\.ipynb: cell 0 wrote to stderr: oops$/m);
    assert.match(err, /^silent\.ipynb: cell 0 has no output/m);
    assert.match(err, /^no-chart\.ipynb: cell 0 is tagged 'chart' but has no SVG output$/m);
    // The good notebook is written with its outputs, the late ones included.
    const good = JSON.parse(await Deno.readTextFile(join(dir, "out", "good.ipynb")));
    const text = (value: string | string[]): string => [value].flat().join("");
    assert.match(text(good.cells[0].outputs[0].data["text/plain"]), /42/);
    assert.match(text(good.cells[1].outputs[0].data["image/svg+xml"]), /^<svg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
