// `deno task trace` with what real users bring: a GPU backend that is not there, and a depth
// that makes the prefill long (progress while it runs, --yes before a very long plan).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { testModel } from "../_models.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ONE_PROMPT = {
  name: "one",
  prompts: [{ id: "count", class: "simple", text: "Count 1 to 10", maxTokens: 2 }],
};

function traceCommand(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli.ts", "trace", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

for (const gpu of ["metal", "vulkan"]) {
  Deno.test(`\`trace --gpu ${gpu}\` on a machine without it exits 2 with one line and writes nothing`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/traces`;
      const model = await testModel("lfm2-tiny");
      const before = (await Deno.stat(model)).mtime?.getTime();
      const run = await traceCommand(["--model", model, "--gpu", gpu, "--out", out]).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 2, stderr);
      // This machine (Linux x64, no GPU): node-llama-cpp loads its CPU binary for "metal" and
      // has no binary for "vulkan".
      const why = gpu === "metal"
        ? "loaded the cpu backend, not metal,"
        : "has no llama.cpp binary for that backend";
      assert.equal(
        stderr,
        `Cannot trace with --gpu ${gpu}: node-llama-cpp ${why} on this machine; use --gpu auto or cpu\n`,
      );
      assert.equal(new TextDecoder().decode(run.stdout), "");
      assert.equal(await exists(out), false);
      assert.equal((await Deno.stat(model)).mtime?.getTime(), before);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test({
  name: "`trace --depth 100000` shows prefill progress within 5 s of the run's start",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/one.json`, JSON.stringify(ONE_PROMPT));
      const model = await testModel("lfm2-small");
      const started = performance.now();
      // One thread: no wait for Deno's pool before the run's clock starts.
      const child = traceCommand([
        "--model",
        model,
        "--suite",
        `${dir}/one.json`,
        "--depth",
        "100000",
        "--threads",
        "1",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--yes",
        "--out",
        `${dir}/traces`,
      ]).spawn();
      let text = "";
      let line: string | undefined;
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        line = text.split("\n").find((l) => l.includes("prefill"));
        if (line !== undefined) break;
      }
      const spawnToLine = (performance.now() - started) / 1000;
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel();
      assert.ok(line !== undefined, text);
      const match = /^run 1\/1 count: prefill (\d+)\/(\d+) tokens in ([\d.]+) s, ETA \d+:\d\d/
        .exec(line);
      assert.ok(match, line);
      const [, done, total, seconds] = match;
      assert.equal(Number(done), 512); // the first batch
      assert.ok(Number(total) > 100000, total);
      assert.ok(Number(seconds) < 5, `first prefill line ${seconds} s into the run`);
      console.log(
        `first prefill line: ${seconds} s after the run's clock started, ${
          spawnToLine.toFixed(1)
        } s after spawn (process start, model load, token counts included)`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "`trace` refuses a plan whose prefill alone takes over 10 minutes without --yes",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/one.json`, JSON.stringify(ONE_PROMPT));
      const model = await testModel("lfm2-small");
      // 200 runs at depth 100000: 20 M input tokens, over 10 minutes below 33,000 tokens/s
      // (this machine prefills lfm2-small at a few hundred to a few thousand tokens/s).
      const run = await traceCommand([
        "--model",
        model,
        "--suite",
        `${dir}/one.json`,
        "--depth",
        "100000",
        "--threads",
        "1",
        "--reps",
        "200",
        "--warmup",
        "0",
        "--out",
        `${dir}/traces`,
      ]).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 2, stderr);
      assert.match(
        stderr,
        /^Cannot trace without --yes: the plan's prefill alone would take about \d+ minutes \(20002800 input tokens at \d+ tokens\/s, measured by a probe\); pass --yes to run it\n$/,
      );
      assert.equal(await exists(`${dir}/traces`), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("`Progress` shows a long prefill's tokens done / total with an ETA from the batch rate", async () => {
  const { Progress } = await import("../../lib/cli/progress.ts");
  let clock = 0;
  const lines: string[] = [];
  const progress = new Progress([10], 0, { write: (t) => lines.push(t), now: () => clock });
  progress.startRun("deep");
  progress.prefill(512, 2048, 100); // below the threshold of 4096 input tokens: not shown
  progress.prefill(512, 100512, 1000);
  clock += 5000;
  progress.prefill(1024, 100512, 2000); // within 10 s of the last line: not shown
  clock += 6000;
  progress.prefill(4096, 100512, 8000);
  progress.token();
  progress.endRun(1, Number.NaN);
  assert.deepEqual(lines, [
    "run 1/1 deep: prefill 512/100512 tokens in 1.0 s, ETA 3:15\n",
    "run 1/1 deep: prefill 4096/100512 tokens in 8.0 s, ETA 3:08\n",
    "run 1/1 deep: 1 tokens, decode - tokens/s, ETA 0:00\n",
  ]);

  let screen = "";
  const tty = new Progress([10], 0, { tty: true, write: (t) => screen += t, now: () => clock });
  tty.startRun("deep");
  clock += 1000;
  tty.prefill(50000, 100000, 10000);
  assert.match(
    screen.slice(screen.lastIndexOf("\r")),
    /deep {2}prefill 50000\/100000 tokens in 10\.0 s, ETA 0:10 {2}ETA -$/,
  );
  tty.close();
});
