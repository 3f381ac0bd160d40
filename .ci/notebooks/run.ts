/**
 * Executes every notebook headless with the project's Deno kernel and checks it.
 *
 *     deno run -A .ci/notebooks/run.ts [--out DIR] [--write] [NOTEBOOK.ipynb...]
 *
 * Steps, each failing the run:
 * 1. Type-check: each notebook's code cells, in order, become one `.ts` module
 *    (`DIR/ts/<name>.ts`, a `// cell N` line before each cell) checked with `deno check`
 *    against the project's deno.json. The kernel itself reports no type errors.
 * 2. Execute: `.ci/notebooks/execute.py` runs each notebook in a fresh kernel (the
 *    kernelspec in `.ci/notebooks/kernels/deno`, found through `JUPYTER_PATH`, with this
 *    Deno binary first on `PATH`) and fails on an error, stderr output, a lost output or
 *    a missing chart. Executed notebooks go to `DIR/executed/`.
 * 3. Export: nbconvert writes `DIR/html/<name>.html` with the `tokentrace` template (the
 *    lab template with inline SVG kept and no network assets); each page must hold every
 *    chart of its notebook.
 *
 * Without `--out`, a temporary folder is used and removed on success (kept on failure).
 * `--write` copies the executed notebooks back over the originals (to commit them with
 * their outputs). `TOKENTRACE_DATASET` passes through to the notebooks. Needs Debian's
 * `jupyter-nbconvert jupyter-client python3-nbclient` under `/usr/bin/python3`.
 *
 * @module
 */

import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HERE = join(ROOT, ".ci", "notebooks");
const PYTHON = "/usr/bin/python3";
/** The dataset the notebooks read when TOKENTRACE_DATASET is not set (their own default). */
const DEFAULT_DATASET = "data/sample-trace";
const APT_LINE =
  "apt-get install -y --no-install-recommends jupyter-nbconvert jupyter-client python3-nbclient";

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: { data?: Record<string, unknown> }[];
}

function text(source: string | string[]): string {
  return Array.isArray(source) ? source.join("") : source;
}

async function readCells(path: string): Promise<Cell[]> {
  return (JSON.parse(await Deno.readTextFile(path)) as { cells: Cell[] }).cells;
}

async function exec(cmd: string, args: string[], env?: Record<string, string>): Promise<boolean> {
  const { code } = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
    ...(env === undefined ? {} : { env }),
  }).output();
  return code === 0;
}

/** Exports the code cells of each notebook to one module and type-checks them all. */
async function typeCheck(notebooks: string[], dir: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const nb of notebooks) {
    const parts: string[] = [];
    (await readCells(nb)).forEach((cell, index) => {
      if (cell.cell_type === "code") parts.push(`// cell ${index}\n${text(cell.source)}\n`);
    });
    parts.push("export {};\n");
    const file = join(dir, basename(nb, ".ipynb") + ".ts");
    await Deno.writeTextFile(file, parts.join("\n"));
    files.push(file);
  }
  return await exec(Deno.execPath(), [
    "check",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    ...files,
  ]);
}

async function pythonHasJupyter(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(PYTHON, {
      args: ["-c", "import nbclient, nbconvert, jupyter_client"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

function countSvg(html: string): number {
  return html.match(/<svg[\s>]/g)?.length ?? 0;
}

async function exportHtml(executed: string[], dir: string): Promise<boolean> {
  const ok = await exec(PYTHON, [
    "-m",
    "nbconvert",
    "--log-level=WARN",
    "--to",
    "html",
    "--template",
    "tokentrace",
    `--TemplateExporter.extra_template_basedirs=${join(HERE, "templates")}`,
    "--output-dir",
    dir,
    ...executed,
  ]);
  if (!ok) return false;
  let allThere = true;
  for (const nb of executed) {
    const charts = (await readCells(nb))
      .flatMap((cell) => cell.outputs ?? [])
      .reduce(
        (n, out) =>
          n + countSvg(String(out.data?.["image/svg+xml"] ?? out.data?.["text/html"] ?? "")),
        0,
      );
    const page = join(dir, basename(nb, ".ipynb") + ".html");
    const shown = countSvg(await Deno.readTextFile(page));
    if (shown < charts) {
      console.error(
        `Cannot accept ${
          relative(ROOT, page)
        }: expected ${charts} inline SVG charts, found ${shown}`,
      );
      allThere = false;
    }
  }
  return allThere;
}

async function main(args: string[]): Promise<number> {
  let out: string | undefined;
  let write = false;
  const notebooks: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--out") out = args[++i];
    else if (arg === "--write") write = true;
    else if (arg.startsWith("-")) {
      console.error(`Cannot run notebooks: unknown option ${JSON.stringify(arg)}`);
      return 2;
    } else notebooks.push(join(Deno.cwd(), arg));
  }
  if (notebooks.length === 0) {
    for await (const entry of Deno.readDir(join(ROOT, "notebooks"))) {
      if (entry.isFile && entry.name.endsWith(".ipynb")) {
        notebooks.push(join(ROOT, "notebooks", entry.name));
      }
    }
    notebooks.sort();
  }
  if (notebooks.length === 0) {
    console.error("Cannot run notebooks: no .ipynb file in notebooks/");
    return 1;
  }
  const dataset = resolve(Deno.env.get("TOKENTRACE_DATASET") ?? join(ROOT, DEFAULT_DATASET));
  if (!(await Deno.stat(dataset).then((s) => s.isDirectory, () => false))) {
    console.error(
      `Cannot run notebooks: dataset "${dataset}" is not a directory; record it with \`deno task trace --out ${DEFAULT_DATASET}\` or set TOKENTRACE_DATASET`,
    );
    return 1;
  }
  if (!(await pythonHasJupyter())) {
    console.error(
      `Cannot run notebooks: ${PYTHON} cannot import nbclient and nbconvert; run \`${APT_LINE}\``,
    );
    return 1;
  }
  const dir = out ?? await Deno.makeTempDir({ prefix: "tokentrace-notebooks-" });
  const started = performance.now();
  const step = (name: string) =>
    console.log(`notebooks: ${name} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

  step("type-check");
  if (!(await typeCheck(notebooks, join(dir, "ts")))) return 1;

  step("execute");
  const env: Record<string, string> = {
    JUPYTER_PATH: [HERE, Deno.env.get("JUPYTER_PATH")].filter(Boolean).join(":"),
    PATH: [dirname(Deno.execPath()), Deno.env.get("PATH")].filter(Boolean).join(":"),
    // Connection files go to the output folder, not the user's home.
    JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
  };
  // Kernels run in notebooks/: a relative dataset path means relative to where we were run.
  if (Deno.env.get("TOKENTRACE_DATASET")) env.TOKENTRACE_DATASET = dataset;
  const executedDir = join(dir, "executed");
  if (!(await exec(PYTHON, [join(HERE, "execute.py"), executedDir, ...notebooks], env))) return 1;
  const executed = notebooks.map((nb) => join(executedDir, basename(nb)));

  step("html");
  if (!(await exportHtml(executed, join(dir, "html")))) return 1;

  if (write) {
    for (const nb of notebooks) await Deno.copyFile(join(executedDir, basename(nb)), nb);
    if (!(await exec(Deno.execPath(), ["fmt", "--quiet", ...notebooks]))) return 1;
  }
  if (out === undefined) {
    await Deno.remove(dir, { recursive: true });
    step("done");
  } else {
    step(`done; executed notebooks and HTML in ${dir}`);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
