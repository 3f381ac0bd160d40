import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readGguf } from "../../lib/gguf/reader.ts";
import { writeGguf } from "../../lib/gguf/_write.ts";
import { testModel } from "../_models.ts";
import { type CliOutput, runCli } from "../_cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

type Output = CliOutput;

/** Runs `deno run -A lib/cli.ts trace <args>` from the project root. */
function trace(args: string[]): Promise<Output> {
  return runCli(["trace", ...args]);
}

/** Every file and directory below `dir`, relative, sorted. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string, prefix: string) => {
    for await (const entry of Deno.readDir(at)) {
      out.push(prefix + entry.name);
      if (entry.isDirectory) await walk(`${at}/${entry.name}`, `${prefix}${entry.name}/`);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** A copy of a GGUF file with its metadata changed by `edit`. */
async function editedGguf(
  from: string,
  to: string,
  edit: (key: string) => string | undefined | null,
  value?: (key: string) => { type: "string"; value: string } | undefined,
): Promise<void> {
  const info = await readGguf(from);
  const metadata = Object.entries(info.metadata).flatMap(([key, v]) => {
    const kept = edit(key);
    if (kept === null) return [];
    // deno-lint-ignore no-explicit-any
    return [[kept ?? key, value?.(key) ?? v] as [string, any]];
  });
  const file = await Deno.open(from, { read: true });
  try {
    await writeGguf(
      to,
      metadata,
      info.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type })),
      async function* (i) {
        const tensor = info.tensors[i]!;
        await file.seek(info.dataOffset + tensor.offset, Deno.SeekMode.Start);
        const bytes = new Uint8Array(tensor.byteSize);
        let read = 0;
        while (read < bytes.length) read += (await file.read(bytes.subarray(read))) ?? 0;
        yield bytes;
      },
    );
  } finally {
    file.close();
  }
}

/** Whether text holds a control character other than a newline. */
function hasControl(text: string): boolean {
  return [...text].some((ch) => {
    const code = ch.charCodeAt(0);
    return (code < 32 && ch !== "\n") || code === 127;
  });
}

function assertBadInput(out: Output, pattern: RegExp, label: string): void {
  assert.equal(out.code, 2, `${label}: exit code (stderr: ${out.stderr})`);
  assert.equal(out.stdout, "", `${label}: stdout`);
  const lines = out.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `${label}: one line on stderr, got ${JSON.stringify(out.stderr)}`);
  assert.match(lines[0]!, pattern, label);
}

Deno.test("`trace` refuses bad input with one line on stderr, exit code 2 and nothing written", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-cli-bad-" });
  try {
    const notGguf = `${dir}/notes.gguf`;
    await Deno.writeTextFile(notGguf, "PK\u0003\u0004 this is a zip, not a model");
    const missingKey = `${dir}/missing-key.gguf`;
    await editedGguf(model, missingKey, (key) => key === "lfm2.feed_forward_length" ? null : key);
    const unknownArch = `${dir}/unknown-arch.gguf`;
    await editedGguf(
      model,
      unknownArch,
      (key) => key.startsWith("lfm2.") ? `nonsense.${key.slice(5)}` : key,
      (key) => key === "general.architecture" ? { type: "string", value: "nonsense" } : undefined,
    );
    const brokenSuite = `${dir}/broken.json`;
    await Deno.writeTextFile(brokenSuite, '{"prompts": [{"id": "a",');
    const wrongSuite = `${dir}/wrong.json`;
    await Deno.writeTextFile(wrongSuite, JSON.stringify({ prompts: [], repetitons: 3 }));
    const aFile = `${dir}/a-file`;
    await Deno.writeTextFile(aFile, "x");
    const before = await listing(dir);
    const out = `${dir}/out`;
    const base = ["--model", model, "--out", out, "--threads", "1"];
    const cases: [string, string[], RegExp][] = [
      [
        "missing model",
        ["--model", `${dir}/nope.gguf`, "--out", out],
        /^Cannot read model ".*nope\.gguf": no such file$/,
      ],
      [
        "directory as model",
        ["--model", dir, "--out", out],
        /^Cannot read model ".*": it is a directory, expected a GGUF file$/,
      ],
      ["not GGUF", ["--model", notGguf, "--out", out], /^Cannot .*notes\.gguf.*GGUF/],
      ["missing key", ["--model", missingKey, "--out", out], /lfm2\.feed_forward_length/],
      [
        "unknown architecture",
        ["--model", unknownArch, "--out", out],
        /architecture.*nonsense|nonsense.*architecture/,
      ],
      [
        "malformed suite",
        [...base, "--suite", brokenSuite],
        /^Cannot load suite ".*broken\.json": malformed JSON/,
      ],
      ["invalid suite", [...base, "--suite", wrongSuite], /unknown key "repetitons"/],
      [
        "unknown suite",
        [...base, "--suite", "dept"],
        /^Cannot load suite "dept": .*did you mean "depth"/,
      ],
      [
        "out not a dataset",
        [...base, "--out", dir],
        /^Cannot write the dataset to ".*": it holds ".*", which is not a session=<id> directory/,
      ],
      [
        "out under a file",
        [...base, "--out", `${aFile}/traces`],
        /^Cannot write the dataset to ".*a-file\/traces": ".*a-file" is not a directory$/,
      ],
      [
        "unwritable out",
        [...base, "--out", "/proc/tokentrace-test/traces"],
        /^Cannot write the dataset to "\/proc\/tokentrace-test\/traces": "\/proc" is not writable/,
      ],
      [
        "threads 0",
        [...base, "--threads", "0"],
        /^Cannot parse --threads: expected "cores" or integers >= 1 separated by commas, found "0"$/,
      ],
      [
        "threads word",
        [...base, "--threads", "1,all"],
        /^Cannot parse --threads: expected "cores" or integers >= 1 separated by commas, found "1,all"$/,
      ],
      [
        "threads repeated",
        [...base, "--threads", "2,2"],
        /^Cannot parse --threads: expected a list without repeated values, found "2,2"$/,
      ],
      [
        "negative reps",
        [...base, "--reps", "-2"],
        /^Cannot parse --reps: expected an integer >= 1, found "-2"$/,
      ],
      [
        "non-numeric max tokens",
        [...base, "--max-tokens", "many"],
        /^Cannot parse --max-tokens: expected an integer >= 1, found "many"$/,
      ],
      [
        "bad depth list",
        [...base, "--depth", "0,x"],
        /^Cannot parse --depth: expected an integer >= 0, found "x"$/,
      ],
      [
        "negative warmup",
        [...base, "--warmup", "-1"],
        /^Cannot parse --warmup: expected an integer >= 0, found "-1"$/,
      ],
      [
        "bad gpu",
        [...base, "--gpu", "tpu"],
        /^Cannot parse --gpu: expected one of auto, metal, cuda, vulkan, cpu, found "tpu"$/,
      ],
      [
        "beyond context",
        [...base, "--depth", "2040", "--max-tokens", "16"],
        /exceed the model's context size 2048$/,
      ],
      [
        "unknown flag",
        [...base, "--thread", "2"],
        /^Cannot parse arguments: unknown option --thread \(did you mean --threads\?\)/,
      ],
      ["positional", [...base, "extra"], /unexpected argument "extra"/],
      [
        "resume missing",
        ["--resume", `${dir}/session=nope`],
        /^Cannot resume ".*session=nope": no such session directory$/,
      ],
    ];
    const results: Output[] = [];
    for (let i = 0; i < cases.length; i += 4) {
      results.push(...await Promise.all(cases.slice(i, i + 4).map(([, args]) => trace(args))));
    }
    cases.forEach(([label, , pattern], i) => assertBadInput(results[i]!, pattern, label));
    assert.deepEqual(await listing(dir), before, "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`trace --help` shows every flag with its default", async () => {
  const out = await trace(["--help"]);
  assert.equal(out.code, 0);
  for (
    const flag of [
      "model",
      "suite",
      "out",
      "threads",
      "reps",
      "warmup",
      "max-tokens",
      "depth",
      "seed",
      "gpu",
      "pin",
      "format",
      "endpoint",
      "api",
      "model-name",
      "api-key-env",
      "token-timeout",
      "resume",
      "help",
    ]
  ) {
    assert.match(out.stdout, new RegExp(`^  --${flag}\\b`, "m"), flag);
  }
  assert.match(out.stdout, /\(default: data\/traces\)/);
  assert.match(out.stdout, /\(default: auto\)/);
  assert.match(out.stdout, /\(default: table\)/);
  assert.match(out.stdout, /\(default: the suite's, else 5\)/);
});

Deno.test("`Progress` prints plain lines without control characters off a terminal", async () => {
  const { Progress } = await import("../../lib/cli/progress.ts");
  let clock = 0;
  const written: string[] = [];
  const progress = new Progress([30, 30, 50], 2, {
    tty: false,
    write: (text) => written.push(text),
    now: () => clock,
  });
  assert.equal(progress.total, 5);
  progress.startRun("count-to-10");
  for (let i = 0; i < 30; i++) {
    clock += 20;
    progress.token();
  }
  progress.endRun(30, 51.234);
  progress.message("warning: something");
  progress.startRun("list-languages");
  clock += 600;
  progress.endRun(30, 50);
  progress.close();
  assert.deepEqual(written, [
    "run 3/5 count-to-10: 30 tokens, decode 51.2 tokens/s, ETA 0:02\n",
    "warning: something\n",
    "run 4/5 list-languages: 30 tokens, decode 50.0 tokens/s, ETA 0:01\n",
  ]);
  assert.ok(written.every((line) => !hasControl(line)));
});

Deno.test("`Progress` redraws one line on a terminal with count, prompt, live tokens/s and ETA", async () => {
  const { Progress } = await import("../../lib/cli/progress.ts");
  let clock = 0;
  let screen = "";
  const progress = new Progress([10, 10], 0, {
    tty: true,
    write: (text) => screen += text,
    now: () => clock,
    columns: 100,
  });
  progress.startRun("simple-8");
  for (let i = 0; i < 10; i++) {
    clock += 200;
    progress.token();
  }
  const last = screen.slice(screen.lastIndexOf("\r"));
  assert.ok(last.startsWith("\r\u001b[K"), JSON.stringify(last));
  assert.match(last.slice(4), /^\[-+\] 0\/2 {2}simple-8 {2}10 tokens {2}5\.0 tokens\/s {2}ETA -$/);
  progress.endRun(10, 5);
  assert.match(screen.slice(screen.lastIndexOf("\r")), /\[#+-+\] 1\/2 {2}ETA 0:02$/);
  progress.close();
  assert.ok(screen.endsWith("\r\u001b[K"));
});

const TINY_SUITE = {
  name: "tiny",
  prompts: [
    { id: "chat-a", class: "simple", text: "Count 1 to 10", maxTokens: 8 },
    { id: "raw-b", class: "complex", text: "Explain machine learning", maxTokens: 6, mode: "raw" },
  ],
  repetitions: 2,
  warmup: 1,
  seed: 3,
};

function medianOf(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const h = (sorted.length - 1) / 2;
  return sorted[Math.floor(h)]! +
    (h - Math.floor(h)) * (sorted[Math.ceil(h)]! - sorted[Math.floor(h)]!);
}

function close(actual: number | null, expected: number, label: string): void {
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    `${label}: ${actual} vs ${expected}`,
  );
}

Deno.test("`trace` runs a tiny suite end to end, and its JSON summary agrees with the dataset", async () => {
  const { readDataset } = await import("../../lib/dataset/read.ts");
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-cli-e2e-" });
  try {
    const suitePath = `${dir}/tiny.json`;
    await Deno.writeTextFile(suitePath, JSON.stringify(TINY_SUITE));
    const out = `${dir}/traces`;
    const result = await trace([
      "--model",
      model,
      "--suite",
      suitePath,
      "--out",
      out,
      "--threads",
      "1",
      "--format",
      "json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!hasControl(result.stderr), "no control characters off a terminal");
    assert.match(
      result.stderr,
      /^run 6\/6 (chat-a|raw-b): \d+ tokens, decode [\d.]+ tokens\/s, ETA /m,
    );
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.session.status, "complete");
    assert.equal(summary.session.runsDone, 6);
    assert.equal(summary.session.runsPlanned, 6);
    assert.equal(summary.session.modelSynthetic, true);
    assert.equal(summary.session.backend, "cpu");
    assert.equal(summary.session.threads, 1);
    assert.equal(summary.session.sessionDir, `${out}/session=${summary.session.sessionId}`);
    assert.equal(summary.session.reportCommand, `deno task report ${out}`);
    assert.deepEqual(summary.prompts.map((p: { promptId: string }) => p.promptId), [
      "chat-a",
      "raw-b",
    ]);

    const ds = await readDataset(out);
    assert.equal(ds.sessions.height, 1);
    assert.equal(ds.sessions.getColumn("status").toArray()[0], "complete");
    const runs = ds.runs.toRecords() as Record<string, unknown>[];
    const tokens = (await ds.tokens.collect()).toRecords() as Record<string, unknown>[];
    assert.equal(runs.length, 6);
    const pinned = ((await import("../../lib/runtime/affinity.ts")).allowedCpus()?.length ?? 0) > 1;
    assert.equal(summary.session.pinnedRuns, pinned ? 6 : 0);
    assert.deepEqual(runs.map((r) => r.order_index).sort(), [0, 1, 2, 3, 4, 5]);
    const plan = JSON.parse(await Deno.readTextFile(`${summary.session.sessionDir}/plan.json`));
    for (const p of summary.prompts) {
      const mine = runs.filter((r) => r.prompt_id === p.promptId);
      const measured = mine.filter((r) => r.warmup === false);
      assert.equal(mine.length - measured.length, 1, "one warm-up");
      assert.equal(p.runs, measured.length);
      assert.equal(p.warmup.runs, 1);
      assert.equal(p.outputTokens, measured.reduce((a, r) => a + Number(r.output_tokens), 0));
      assert.ok(
        mine.every((r) => r.prompt_tokens === plan.promptTokens[p.promptId]),
        "counted prompt tokens",
      );
      assert.ok(mine.every((r) => r.threads === 1 && r.depth_tokens === 0));
      // --pin auto (the default) pins one-thread runs where there is more than one CPU.
      assert.ok(
        mine.every((r) => pinned ? /^\d+$/.test(String(r.cpu_affinity)) : r.cpu_affinity === ""),
        `cpu_affinity ${mine.map((r) => r.cpu_affinity)}`,
      );
      close(p.ttftMsMedian, medianOf(measured.map((r) => Number(r.ttft_ms))), "ttft");
      close(
        p.decodeTokensPerSMedian,
        medianOf(measured.map((r) => Number(r.decode_tokens_per_s))),
        "decode",
      );
      close(
        p.e2eTokensPerSMedian,
        medianOf(measured.map((r) => Number(r.e2e_tokens_per_s))),
        "e2e",
      );
      const ids = new Set(measured.map((r) => r.run_id));
      const itl = tokens.filter((t) => ids.has(t.run_id) && Number(t.token_index) > 0).map((t) =>
        Number(t.latency_ms)
      );
      assert.equal(p.decodeTokens, itl.length);
      close(p.interTokenMsP50, medianOf(itl), "itl p50");
      const warm = mine.find((r) => r.warmup === true)!;
      close(p.warmup.ttftMs, Number(warm.ttft_ms), "warm-up ttft");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Reads `stream` line by line until a line matches, then keeps draining it in the background. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
): Promise<{ seen: string; rest: Promise<string> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!pattern.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${pattern}: ${seen}`);
    seen += value;
  }
  const rest = (async () => {
    let text = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { seen, rest };
}

Deno.test("`trace` stops on a signal keeping finished runs, and `--resume` completes the plan exactly once", async () => {
  const { readDataset } = await import("../../lib/dataset/read.ts");
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-cli-resume-" });
  try {
    const suitePath = `${dir}/long.json`;
    await Deno.writeTextFile(
      suitePath,
      JSON.stringify({
        prompts: [
          { id: "a", class: "simple", text: "Count 1 to 10", maxTokens: 24, mode: "raw" },
          {
            id: "b",
            class: "complex",
            text: "Explain machine learning",
            maxTokens: 24,
            mode: "raw",
          },
        ],
        repetitions: 15,
        warmup: 1,
      }),
    );
    const out = `${dir}/traces`;
    const args = [
      "--model",
      model,
      "--suite",
      suitePath,
      "--out",
      out,
      "--threads",
      "1",
      "--pin",
      "off",
      "--format",
      "json",
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "lib/cli.ts", "trace", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdoutText = new Response(child.stdout).text();
    const { seen, rest } = await waitForLine(child.stderr, /^run 3\/32 /m);
    child.kill("SIGTERM");
    const status = await child.status;
    const stderr = seen + await rest;
    assert.equal(status.code, 130, stderr);
    assert.match(
      stderr,
      /Interrupted: \d+\/32 runs kept; continue with: deno task trace --resume /,
    );
    const partial = JSON.parse(await stdoutText);
    assert.equal(partial.session.status, "interrupted");
    const kept = partial.session.runsDone;
    assert.ok(kept >= 3 && kept < 32, `kept ${kept}`);
    const sessionDir = partial.session.sessionDir;
    let ds = await readDataset(out);
    assert.equal(ds.sessions.getColumn("status").toArray()[0], "interrupted");
    assert.equal(ds.runs.height, kept);

    // Changed settings or model: refused, nothing changes.
    const changed = await trace(["--resume", sessionDir, "--threads", "2"]);
    assertBadInput(
      await trace(["--resume", sessionDir, "--pin", "auto"]),
      /^Cannot resume ".*": --pin auto differs from the session's off; a resumed session keeps its settings$/,
      "changed pin",
    );
    assertBadInput(
      changed,
      /^Cannot resume ".*": --threads 2 differs from the session's 1; a resumed session keeps its settings$/,
      "changed threads",
    );
    const otherModel = await trace([
      "--resume",
      sessionDir,
      "--model",
      await testModel("llama-tiny"),
    ]);
    assertBadInput(
      otherModel,
      /^Cannot resume ".*": model ".*" has sha256 .* a resumed session needs the same model file$/,
      "changed model",
    );
    assert.equal((await readDataset(out)).runs.height, kept);

    // The same settings given again are fine.
    const resumed = await trace(["--resume", sessionDir, "--threads", "1", "--format", "json"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      new RegExp(`Resuming .*: ${kept} runs on disk, ${32 - kept} to run`),
    );
    const summary = JSON.parse(resumed.stdout);
    assert.equal(summary.session.status, "complete");
    assert.equal(summary.session.sessionId, partial.session.sessionId);
    assert.equal(summary.session.runsDone, 32);

    ds = await readDataset(out);
    assert.equal(ds.sessions.height, 1);
    assert.equal(ds.sessions.getColumn("status").toArray()[0], "complete");
    const runs = ds.runs.toRecords() as Record<string, unknown>[];
    assert.deepEqual(
      runs.map((r) => Number(r.order_index)).sort((a, b) => a - b),
      Array.from({ length: 32 }, (_, i) => i),
      "every planned run once",
    );
    assert.equal(new Set(runs.map((r) => r.run_id)).size, 32);
    assert.ok(runs.every((r) => r.cpu_affinity === ""), "--pin off, before and after resuming");
    const plan = JSON.parse(await Deno.readTextFile(`${sessionDir}/plan.json`));
    for (const r of runs) {
      const planned = plan.runs[Number(r.order_index)];
      assert.equal(r.prompt_id, planned.promptId);
      assert.equal(r.repetition, planned.repetition);
      assert.equal(r.warmup, planned.warmup);
    }
    const tokens = await ds.tokens.collect();
    assert.equal(
      tokens.height,
      runs.reduce((a, r) => a + Number(r.output_tokens), 0),
      "no duplicate tokens",
    );
    for (const p of summary.prompts) {
      assert.equal(p.runs, 15);
      assert.equal(p.warmup.runs, 1);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`trace --suite threads --threads cores` sweeps 1..physical cores and names the best count", async () => {
  const { readDataset } = await import("../../lib/dataset/read.ts");
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-cli-threads-" });
  try {
    const out = `${dir}/traces`;
    // Short: 2 prompts x cores x 2 runs of 8 tokens. A 2-thread run first waits ~10 s for
    // Deno's idle pool threads to exit (lib/runtime/pool.ts, settleBlockingPool).
    const result = await trace([
      "--model",
      model,
      "--suite",
      "threads",
      "--threads",
      "cores",
      "--reps",
      "2",
      "--warmup",
      "0",
      "--max-tokens",
      "8",
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const ds = await readDataset(out);
    const cores = Number(ds.sessions.getColumn("cpu_math_cores").toArray()[0]);
    const sessionDir = `${out}/session=${ds.sessions.getColumn("session_id").toArray()[0]}`;
    const counts = Array.from({ length: cores }, (_, i) => i + 1);
    const plan = JSON.parse(await Deno.readTextFile(`${sessionDir}/plan.json`));
    assert.deepEqual(plan.suiteDefinition.sweeps.threads, counts, "resolved in plan.json");
    assert.equal(plan.threadsGiven, "cores");
    assert.equal(plan.runs.length, 2 * cores * 2);
    assert.deepEqual(
      [...new Set(ds.runs.getColumn("threads").toArray().map(Number))].sort((a, b) => a - b),
      counts,
    );
    const best = /^best: (\d+) threads?, /m.exec(result.stdout);
    assert.equal(best !== null, cores > 1, result.stdout);
    if (best !== null) {
      assert.match(
        result.stdout,
        /^Threads: measured runs of (chat-count, raw-story|raw-story, chat-count) pooled/m,
      );
      assert.ok(counts.includes(Number(best[1])), best[0]);

      // --resume keeps the resolved list: "cores" and the list itself are the same setting.
      assertBadInput(
        await trace(["--resume", sessionDir, "--threads", "1"]),
        new RegExp(`--threads 1 differs from the session's ${counts.join(",")};`),
        "other threads",
      );
      const again = await trace(["--resume", sessionDir, "--threads", "cores", "--format", "json"]);
      assert.equal(again.code, 0, again.stderr);
      const summary = JSON.parse(again.stdout);
      assert.equal(summary.threads.length, 1);
      assert.equal(summary.threads[0].best, Number(best[1]));
      assert.deepEqual(summary.threads[0].rows.map((r: { threads: number }) => r.threads), counts);
      assert.ok(summary.threads[0].rows.every((r: { runs: number }) => r.runs === 4));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
