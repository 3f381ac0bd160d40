import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  ExperimentError,
  openSession,
  parsePlan,
  parseSuite,
  readDataset,
  resumeSuite,
  runSuite,
  type SuiteProgress,
  type TraceSource,
} from "../../mod.ts";
import { testModel } from "../_models.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** 2 prompts × (1 warm-up + 2 repetitions) = 6 runs. */
const SUITE = {
  name: "two",
  prompts: [
    { id: "chat-a", class: "simple", text: "Count 1 to 10", maxTokens: 6 },
    { id: "raw-b", class: "complex", text: "Explain machine learning", maxTokens: 6, mode: "raw" },
  ],
  repetitions: 2,
  warmup: 1,
  seed: 5,
};

Deno.test("`runSuite()` works from a script outside the repo: 6 runs, read back, onProgress after each", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-run-outside-" });
  try {
    const script = `${dir}/experiment.ts`;
    await Deno.writeTextFile(
      script,
      `import { readDataset, runSuite } from ${
        JSON.stringify(new URL("mod.ts", `file://${ROOT}`).href)
      };
const [model, out, suite] = Deno.args;
const calls = [];
const result = await runSuite(model, JSON.parse(suite), {
  out,
  threads: 1,
  gpu: "cpu",
  pin: "off",
  onProgress: ({ done, total, run }) => calls.push({ done, total, runId: run.run_id, warmup: run.warmup }),
});
const ds = await readDataset(out);
console.log(JSON.stringify({
  calls,
  result: { status: result.status, runsDone: result.runsDone, sessionDir: result.sessionDir },
  runIds: ds.runs.getColumn("run_id").toArray(),
  orderIndex: ds.runs.getColumn("order_index").toArray(),
  warmup: ds.runs.getColumn("warmup").toArray(),
  status: ds.sessions.getColumn("status").toArray(),
}));
`,
    );
    // Outside the repo the bare npm specifiers of mod.ts resolve through the repo's deno.json,
    // as for any user of a local checkout.
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        `${ROOT}deno.json`,
        script,
        model,
        `${dir}/traces`,
        JSON.stringify(SUITE),
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    assert.equal(code, 0, text.decode(stderr));
    const out = JSON.parse(text.decode(stdout).trim().split("\n").at(-1)!);
    assert.deepEqual(out.calls.map((c: { done: number }) => c.done), [1, 2, 3, 4, 5, 6]);
    assert.ok(out.calls.every((c: { total: number }) => c.total === 6));
    assert.deepEqual(
      out.calls.map((c: { runId: string }) => c.runId).sort(),
      [...out.runIds].sort(),
      "one call per run written, with its row",
    );
    assert.equal(out.calls.filter((c: { warmup: boolean }) => c.warmup).length, 2);
    assert.equal(out.result.status, "complete");
    assert.equal(out.result.runsDone, 6);
    assert.deepEqual([...out.orderIndex].map(Number).sort(), [0, 1, 2, 3, 4, 5]);
    assert.equal(out.warmup.filter((w: boolean) => w).length, 2);
    assert.deepEqual(out.status, ["complete"]);
    const plan = parsePlan(
      JSON.parse(await Deno.readTextFile(`${out.result.sessionDir}/plan.json`)),
      "plan.json",
    );
    assert.equal(plan.runs.length, 6);
    assert.equal(plan.pin, "off");
    assert.equal(plan.suite, "two");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`runSuite()` stops on an aborted signal after the token in flight, and `resumeSuite()` runs the rest once", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-run-abort-" });
  try {
    const out = `${dir}/traces`;
    const stop = new AbortController();
    const progress: SuiteProgress[] = [];
    let started = 0;
    let tokensOfThird = 0;
    const first = await runSuite(model, SUITE, {
      out,
      threads: 1,
      gpu: "cpu",
      signal: stop.signal,
      onRunStart: () => started++,
      onToken: () => {
        // Abort in the middle of the third run: it is dropped, the two before it are kept.
        if (started === 3 && ++tokensOfThird === 2) stop.abort();
      },
      onProgress: (p) => progress.push(p),
    });
    assert.equal(started, 3);
    assert.ok(tokensOfThird >= 2 && tokensOfThird < 6, `tokens of the third run ${tokensOfThird}`);
    assert.equal(first.status, "interrupted");
    assert.equal(first.runsDone, 2);
    assert.equal(first.runsRun, 2);
    assert.deepEqual(progress.map((p) => [p.done, p.total]), [[1, 6], [2, 6]]);
    let ds = await readDataset(out);
    assert.deepEqual(ds.sessions.getColumn("status").toArray(), ["interrupted"]);
    assert.equal(ds.runs.height, 2);
    assert.deepEqual(ds.runs.getColumn("order_index").toArray().map(Number).sort(), [0, 1]);
    assert.ok(ds.runs.getColumn("stop_reason").toArray().every((r) => r !== "interrupted"));

    const resumedProgress: SuiteProgress[] = [];
    const rest = await resumeSuite(first.sessionDir, {
      onProgress: (p) => resumedProgress.push(p),
      onStart: ({ done, remaining }) => {
        assert.equal(done, 2);
        assert.deepEqual(remaining.map((r) => r.orderIndex), [2, 3, 4, 5]);
      },
    });
    assert.equal(rest.status, "complete");
    assert.equal(rest.sessionId, first.sessionId);
    assert.equal(rest.runsRun, 4);
    assert.equal(rest.runsDone, 6);
    assert.deepEqual(resumedProgress.map((p) => p.done), [3, 4, 5, 6]);
    assert.deepEqual(resumedProgress.map((p) => p.planned.orderIndex), [2, 3, 4, 5]);
    ds = await readDataset(out);
    assert.deepEqual(ds.sessions.getColumn("status").toArray(), ["complete"]);
    const runs = ds.runs.toRecords() as Record<string, unknown>[];
    assert.deepEqual(runs.map((r) => Number(r.order_index)).sort(), [0, 1, 2, 3, 4, 5]);
    const plan = parsePlan(
      JSON.parse(await Deno.readTextFile(`${first.sessionDir}/plan.json`)),
      "plan.json",
    );
    for (const r of runs) {
      const planned = plan.runs[Number(r.order_index)]!;
      assert.equal(r.prompt_id, planned.promptId);
      assert.equal(r.warmup, planned.warmup);
      assert.equal(r.prompt_tokens, plan.promptTokens[planned.promptId]);
    }
    // A complete session has nothing left to run.
    const again = await resumeSuite(first.sessionDir);
    assert.equal(again.runsRun, 0);
    assert.equal(again.status, "complete");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`runSuite()` runs on any `TraceSource` and leaves it open", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-run-source-" });
  const session = await openSession(model, { threads: 1, gpu: "cpu" });
  try {
    // Only the members every source has: no token counting, no warnings log.
    let streamed = 0;
    const source: TraceSource = {
      info: { ...session.info, model_path: "wrapped" },
      trace: (prompt, options) => session.trace(prompt, options),
      stream: (prompt, options) => {
        streamed++;
        return session.stream(prompt, options);
      },
      close: () => Promise.resolve(),
    };
    const result = await runSuite(source, { ...SUITE, warmup: 0, repetitions: 1 }, {
      out: `${dir}/traces`,
    });
    assert.equal(result.status, "complete");
    assert.equal(streamed, 2);
    assert.deepEqual(result.plan.promptTokens, {}, "the source cannot count prompt tokens");
    assert.equal(result.plan.model.path, "wrapped");
    const ds = await readDataset(`${dir}/traces`);
    assert.equal(ds.runs.height, 2);
    assert.deepEqual(ds.sessions.getColumn("model_path").toArray(), ["wrapped"]);
    // The session itself is a source, and counts prompt tokens; neither is closed by runSuite.
    // A `Suite` value (empty description and tags) is accepted as well as the JSON shape.
    const parsed = parseSuite(SUITE, "two.json");
    assert.deepEqual(parsed.prompts[0]!.tags, []);
    const direct = await runSuite(session, parsed, { out: `${dir}/traces`, repetitions: 1 });
    assert.deepEqual(Object.keys(direct.plan.promptTokens).sort(), ["chat-a", "raw-b"]);
    const run = await session.trace("Hi", { maxTokens: 2, mode: "raw" });
    assert.ok(run.summary.output_tokens >= 1, "still open");
  } finally {
    await session.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`runSuite()` and `resumeSuite()` refuse bad input with an ExperimentError before writing", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-run-bad-" });
  try {
    await Deno.writeTextFile(`${dir}/note.txt`, "not a dataset");
    const out = `${dir}/traces`;
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      [
        "invalid suite object",
        () => runSuite(model, { prompts: [], reps: 3 }, { out }),
        /^Cannot load suite "suite": unknown key "reps"/,
      ],
      [
        "bad override",
        () => runSuite(model, SUITE, { out, repetitions: 0 }),
        /^Cannot load suite "two": key "repetitions" must be an integer >= 1, found 0$/,
      ],
      [
        "bad threads",
        () => runSuite(model, SUITE, { out, threads: [2, 2] }),
        /key "sweeps.threads" must be a list without repeated values/,
      ],
      [
        "out not a dataset",
        () => runSuite(model, SUITE, { out: dir }),
        /it holds "note\.txt", which is not a session=<id> directory/,
      ],
      [
        "missing model",
        () => runSuite(`${dir}/nope.gguf`, SUITE, { out }),
        /^Cannot read model ".*nope\.gguf": no such file$/,
      ],
      [
        "beyond context",
        () => runSuite(model, SUITE, { out, gpu: "cpu", depth: [2040] }),
        /exceed the model's context size 2048$/,
      ],
      [
        "no session",
        () => resumeSuite(`${dir}/session=nope`),
        /^Cannot resume ".*session=nope": no such session directory$/,
      ],
    ];
    for (const [label, call, pattern] of cases) {
      await assert.rejects(call, (error) => {
        assert.ok(error instanceof ExperimentError, `${label}: ${error}`);
        assert.match(error.message, pattern, label);
        return true;
      });
    }
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry.name);
    assert.deepEqual(entries, ["note.txt"], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
