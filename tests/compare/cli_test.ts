// `deno task compare` end to end on two real traces of the tiny synthetic LFM2 model (1 and 2
// threads, same suite), plus its bad-input lines.

import assert from "node:assert/strict";
import { testModel } from "../_models.ts";
import { type CliOutput, runCli } from "../_cli.ts";

type Output = CliOutput;

const cli = (args: string[]): Promise<Output> => runCli(args);

const SUITE = {
  name: "compare-tiny",
  prompts: [
    { id: "chat-a", class: "simple", text: "Count from one to ten", maxTokens: 24, mode: "chat" },
    { id: "raw-b", class: "simple", text: "Once upon a time", maxTokens: 24, mode: "raw" },
  ],
  repetitions: 5,
  warmup: 1,
};

Deno.test("`compare` tells 1 from 2 threads on real tiny-model traces, gates on regressions, and gives exactly 1 against itself", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-compare-cli-" });
  try {
    const suite = `${dir}/suite.json`;
    await Deno.writeTextFile(suite, JSON.stringify(SUITE));
    for (const threads of ["1", "2"]) {
      const r = await cli([
        "trace",
        "--model",
        model,
        "--suite",
        suite,
        "--threads",
        threads,
        "--out",
        `${dir}/t${threads}`,
        "--format",
        "json",
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const t1 = `${dir}/t1`, t2 = `${dir}/t2`;

    // a dataset against itself: exactly 1, no change
    const self = await cli(["compare", t1, t1, "--format", "json"]);
    assert.equal(self.code, 0, self.stderr);
    const sj = JSON.parse(self.stdout);
    for (
      const key of [
        "decodeTokensPerS",
        "ttftMs",
        "itlP50Ms",
        "itlP99Ms",
        "prefillTokensPerS",
        "e2eTokensPerS",
      ]
    ) {
      assert.equal(sj[key].ratio.value, 1, key);
      assert.equal(sj[key].verdict, "no change", key);
    }

    // 1 against 2 threads: the table names the environment difference
    const table = await cli(["compare", t1, t2]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^\| decode tok\/s +\| +[\d.]+ \| +[\d.]+ \| +[\d.]+ \[[\d.]+-[\d.]+\] \| (faster|slower|no change|inconclusive) +\|/m,
    );
    assert.match(table.stdout, /^ {2}threads: 1 -> 2$/m);
    assert.match(
      table.stdout,
      /cells compared \(2\): chat-a depth 0 max 24 \(5\+5 runs\); raw-b depth 0 max 24 \(5\+5 runs\)/,
    );

    const forward = JSON.parse((await cli(["compare", t1, t2, "--format", "json"])).stdout);
    const back = JSON.parse((await cli(["compare", t2, t1, "--format", "json"])).stdout);
    const d = forward.decodeTokensPerS;
    assert.ok(d.ratio.low <= d.ratio.value && d.ratio.value <= d.ratio.high);
    assert.ok(Math.abs(d.ratio.value * back.decodeTokensPerS.ratio.value - 1) < 1e-9);
    assert.match(
      d.ratio.method,
      /^Welch t interval on the mean log ratio over 2 shared cells \(10 \+ 10 runs/,
    );
    // on the tiny model the thread counts differ by far more than the noise: one side is
    // decisively faster, and taking the faster side as baseline is a regression
    assert.ok(d.verdict === "faster" || d.verdict === "slower", `decode verdict ${d.verdict}`);
    const [fast, slow] = d.verdict === "faster" ? [t2, t1] : [t1, t2];
    const gate = await cli(["compare", fast, slow, "--fail-on-regression"]);
    assert.equal(gate.code, 1, gate.stderr);
    assert.match(gate.stderr, /^regression: decode tok\/s or TTFT is slower in the candidate$/m);
    const ok = await cli(["compare", slow, fast, "--fail-on-regression", "--threshold", "2"]);
    const okj = JSON.parse((await cli(["compare", slow, fast, "--format", "json"])).stdout);
    assert.equal(ok.code, okj.ttftMs.verdict === "slower" ? 1 : 0, ok.stderr);

    // a session directory works as a side
    const sessionDir = `${t1}/${
      [...Deno.readDirSync(t1)].find((e) => e.name.startsWith("session="))!.name
    }`;
    const bySession = JSON.parse(
      (await cli(["compare", sessionDir, t1, "--format", "json"])).stdout,
    );
    assert.equal(bySession.decodeTokensPerS.ratio.value, 1);

    // the report takes both and adds the comparison section
    const report = await cli(["report", t1, t2, "--out", `${dir}/report.html`]);
    assert.equal(report.code, 0, report.stderr);
    const html = await Deno.readTextFile(`${dir}/report.html`);
    assert.match(html, /<h2>6\. Baseline against candidate<\/h2>/);
    assert.equal(html.match(/<svg /g)?.length, 7);

    // bad input: one line, exit 2
    const other = `${dir}/other.json`;
    await Deno.writeTextFile(
      other,
      JSON.stringify({
        ...SUITE,
        prompts: [{ ...SUITE.prompts[0], id: "different" }],
        repetitions: 1,
      }),
    );
    assert.equal(
      (await cli([
        "trace",
        "--model",
        model,
        "--suite",
        other,
        "--threads",
        "1",
        "--out",
        `${dir}/o`,
      ])).code,
      0,
    );
    await Deno.writeTextFile(`${dir}/file.txt`, "x");
    const cases: [string[], RegExp][] = [
      [["compare", `${dir}/missing`, t1], /^Cannot read dataset ".*\/missing": /],
      [
        ["compare", t1, `${dir}/missing/session=abc`],
        /^Cannot read session ".*\/missing\/session=abc": no such directory$/,
      ],
      [
        ["compare", dir, t1],
        /^Cannot read dataset ".*": ".*" is not a session directory \(session=<id>\)$/,
      ],
      [
        ["compare", t1, `${dir}/o`],
        /^Cannot compare sessions: baseline and candidate share no prompt and setting \(baseline has "chat-a depth 0 max 24", "raw-b depth 0 max 24"; candidate has "different depth 0 max 24"\); trace both with the same suite$/,
      ],
      [
        ["compare", t1],
        /^Cannot parse arguments: expected a baseline and a candidate dataset \(or session dir\) first, found 1; see --help$/,
      ],
      [
        ["compare", t1, t2, "--threshold", "0"],
        /^Cannot parse --threshold: expected a percentage > 0 and < 100, found "0"$/,
      ],
      [
        ["compare", t1, t2, "--treshold", "3"],
        /^Cannot parse arguments: unknown option --treshold \(did you mean --threshold\?\); see --help$/,
      ],
      [
        ["report", t1, `${dir}/o`, "--out", `${dir}/r2.html`],
        /^Cannot compare sessions: baseline and candidate share no prompt and setting/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
      assert.equal(r.stdout, "");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
