import assert from "node:assert/strict";
import { encode } from "gpt-3-encoder";
import {
  BUILTIN_SUITES,
  expandPlan,
  loadSuite,
  parseSuite,
  resolveSuite,
  type Suite,
} from "../../mod.ts";

const twoPrompts = {
  prompts: [
    { id: "a", class: "simple", text: "Say a", maxTokens: 4 },
    { id: "b", class: "complex", text: "Say b", maxTokens: 6, mode: "raw", tags: ["x"] },
  ],
};

function cellKey(run: { promptId: string; threads: number; depth: number; batchSize: number }) {
  return `${run.promptId}/${run.threads}/${run.depth}/${run.batchSize}`;
}

Deno.test("`parseSuite()` fills in documented defaults", () => {
  const suite = parseSuite(twoPrompts, "dir/two.json");
  assert.equal(suite.name, "two");
  assert.equal(suite.repetitions, 5);
  assert.equal(suite.warmup, 1);
  assert.equal(suite.order, "interleaved");
  assert.equal(suite.seed, 1);
  assert.deepEqual(suite.sampling, { temperature: 0, topK: 0, topP: 1, seed: 0 });
  assert.deepEqual(suite.sweeps, {});
  assert.equal(suite.prompts[0]?.mode, "chat");
  assert.deepEqual(suite.prompts[0]?.tags, []);
  assert.equal(suite.prompts[1]?.mode, "raw");
});

Deno.test("`parseSuite()` names an unknown key, at any depth", () => {
  assert.throws(() => parseSuite({ ...twoPrompts, reps: 3 }, "s.json"), {
    name: "TypeError",
    message: 'Cannot load suite "s.json": unknown key "reps"; allowed keys here are ' +
      "name, description, prompts, repetitions, warmup, order, seed, sampling, sweeps",
  });
  assert.throws(
    () => parseSuite({ prompts: [{ ...twoPrompts.prompts[0], max_tokens: 3 }] }, "s.json"),
    /unknown key "prompts\[0\]\.max_tokens"/,
  );
  assert.throws(
    () => parseSuite({ ...twoPrompts, sweeps: { thread: [1] } }, "s.json"),
    /unknown key "sweeps\.thread"/,
  );
});

Deno.test("`parseSuite()` names the key of a value with the wrong type or range", () => {
  const bad = (patch: Record<string, unknown>, pattern: RegExp, name = "TypeError") =>
    assert.throws(() => parseSuite({ ...twoPrompts, ...patch }, "s.json"), (e: Error) => {
      assert.equal(e.name, name);
      assert.match(e.message, pattern);
      return true;
    });
  bad({ repetitions: "5" }, /key "repetitions" must be an integer >= 1, found "5"/);
  bad({ repetitions: 0 }, /key "repetitions" must be an integer >= 1, found 0/, "RangeError");
  bad({ warmup: 1.5 }, /key "warmup" must be an integer >= 0, found 1.5/);
  bad({ order: "sorted" }, /key "order" must be one of "interleaved", "blocked", "random"/);
  bad(
    { sampling: { topP: 2 } },
    /key "sampling.topP" must be a number above 0, at most 1/,
    "RangeError",
  );
  bad(
    { sampling: { topP: 0 } },
    /key "sampling.topP" must be a number above 0, at most 1/,
    "RangeError",
  );
  bad(
    { sampling: { temperature: -1 } },
    /key "sampling.temperature" must be a number from 0 to 100/,
    "RangeError",
  );
  bad(
    { sweeps: { threads: [1, 0] } },
    /key "sweeps.threads\[1\]" must be an integer >= 1/,
    "RangeError",
  );
  bad({ sweeps: { depth: [] } }, /key "sweeps.depth" must be a non-empty array, found \[\]/);
  bad(
    { sweeps: { depth: [0, 0] } },
    /key "sweeps.depth" must be a list without repeated/,
    "RangeError",
  );
  bad({ prompts: "x" }, /key "prompts" must be a non-empty array/);
  bad(
    { prompts: [{ ...twoPrompts.prompts[0], maxTokens: "30" }] },
    /key "prompts\[0\]\.maxTokens" must be an integer >= 1, found "30"/,
  );
  bad(
    { prompts: [{ ...twoPrompts.prompts[0], mode: "Chat" }] },
    /key "prompts\[0\]\.mode" must be one of "chat", "raw"/,
  );
  bad(
    { prompts: [twoPrompts.prompts[0], twoPrompts.prompts[0]] },
    /key "prompts\[1\]\.id" must be unique in the suite, found "a"/,
    "RangeError",
  );
  bad(
    { prompts: [{ ...twoPrompts.prompts[0], id: "has space" }] },
    /key "prompts\[0\]\.id" must be a string matching/,
  );
  assert.throws(
    () => parseSuite({ name: "x" }, "s.json"),
    /key "prompts" must be a non-empty array, found nothing/,
  );
  assert.throws(() => parseSuite([1], "s.json"), /key "\(top level\)" must be an object/);
});

Deno.test("`loadSuite()` reads a file, and rejects malformed JSON, missing files and unknown names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/mine.json`;
    await Deno.writeTextFile(good, JSON.stringify({ ...twoPrompts, name: "mine", repetitions: 2 }));
    assert.equal((await loadSuite(good)).repetitions, 2);
    const broken = `${dir}/broken.json`;
    await Deno.writeTextFile(broken, '{"prompts": [');
    await assert.rejects(loadSuite(broken), (e: Error) => {
      assert.equal(e.name, "SyntaxError");
      assert.match(e.message, /^Cannot load suite ".*broken\.json": malformed JSON, /);
      return true;
    });
    await assert.rejects(
      loadSuite(`${dir}/none.json`),
      /Cannot load suite ".*none\.json": no such file/,
    );
    await assert.rejects(loadSuite(dir + "/"), /Cannot load suite/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(loadSuite("dept"), {
    name: "RangeError",
    message: 'Cannot load suite "dept": no built-in suite or file by that name ' +
      '(did you mean "depth"?); built-in suites are default, depth, threads',
  });
  await assert.rejects(
    loadSuite("zzzzzz"),
    /by that name; built-in suites are default, depth, threads$/,
  );
});

Deno.test("`expandPlan()` gives each cell its warm-ups first, then its repetitions", () => {
  for (const order of ["interleaved", "blocked", "random"] as const) {
    const suite = parseSuite(
      { ...twoPrompts, repetitions: 3, warmup: 2, order, seed: 7 },
      "s.json",
    );
    const plan = expandPlan(suite, { threads: 2, batchSize: 256 });
    assert.equal(plan.length, 2 * (2 + 3), order);
    assert.deepEqual(plan.map((run) => run.orderIndex), plan.map((_, i) => i));
    for (const id of ["a", "b"]) {
      const runs = plan.filter((run) => run.promptId === id);
      assert.deepEqual(runs.map((run) => run.repetition), [0, 1, 2, 3, 4], order);
      assert.deepEqual(runs.map((run) => run.warmup), [true, true, false, false, false], order);
    }
    assert.ok(plan.every((run) => run.threads === 2 && run.batchSize === 256 && run.depth === 0));
  }
});

Deno.test("`expandPlan()` orders runs as the suite says", () => {
  const three = {
    prompts: ["a", "b", "c", "d"].map((id) => ({ id, class: "simple", text: id, maxTokens: 2 })),
    repetitions: 5,
    warmup: 1,
  };
  const blocked = expandPlan(parseSuite({ ...three, order: "blocked" }, "s.json"));
  assert.deepEqual(
    blocked.map((run) => run.promptId).join(""),
    "aaaaaabbbbbbccccccdddddd",
  );
  const interleaved = expandPlan(parseSuite({ ...three, order: "interleaved" }, "s.json"));
  for (let round = 0; round < 6; round++) {
    const ids = interleaved.slice(round * 4, round * 4 + 4).map((run) => run.promptId);
    assert.deepEqual([...ids].sort(), ["a", "b", "c", "d"], `round ${round}`);
    assert.ok(interleaved.slice(round * 4, round * 4 + 4).every((run) => run.repetition === round));
  }
  const rounds = new Set(
    Array.from(
      { length: 6 },
      (_, r) => interleaved.slice(r * 4, r * 4 + 4).map((x) => x.promptId).join(""),
    ),
  );
  assert.ok(rounds.size > 1, "rounds are shuffled, not repeated");
  const random = expandPlan(parseSuite({ ...three, order: "random" }, "s.json"));
  assert.notEqual(
    random.map((run) => run.promptId).join(""),
    interleaved.map((r) => r.promptId).join(""),
  );
});

Deno.test("`expandPlan()` is deterministic for a seed and changes with the seed", () => {
  const ids = (seed: number) =>
    expandPlan(parseSuite({ ...twoPrompts, repetitions: 10, seed }, "s.json"))
      .map((run) => run.promptId).join("");
  assert.equal(ids(3), ids(3));
  assert.notEqual(ids(3), ids(4));
  assert.equal(ids(2 ** 40), ids(2 ** 40));
});

Deno.test("`expandPlan()` multiplies prompts by every sweep", () => {
  const suite = parseSuite(
    {
      ...twoPrompts,
      repetitions: 2,
      warmup: 1,
      sweeps: { threads: [1, 2], depth: [0, 64, 128], batchSize: [128] },
    },
    "s.json",
  );
  const plan = expandPlan(suite, { threads: 9, batchSize: 9 });
  assert.equal(plan.length, 2 * 2 * 3 * 1 * 3);
  const cells = new Set(plan.map(cellKey));
  assert.equal(cells.size, 12);
  assert.ok(plan.every((run) => run.batchSize === 128 && run.threads !== 9));
  assert.deepEqual([...new Set(plan.map((run) => run.depth))].sort((a, b) => a - b), [0, 64, 128]);
});

Deno.test("built-in suites load, and `default` keeps the original prompts and budgets", async () => {
  assert.deepEqual([...BUILTIN_SUITES], ["default", "depth", "threads"]);
  const suite = await loadSuite("default");
  const byText = new Map(suite.prompts.map((p) => [p.text, p]));
  for (
    const [text, budget] of [
      ["List 10 programming languages", 30],
      ["Count 1 to 10", 30],
      ["Explain machine learning in exactly 50 words", 50],
    ] as const
  ) {
    assert.equal(byText.get(text)?.maxTokens, budget, text);
    assert.equal(byText.get(text)?.mode, "chat", text);
  }
  assert.ok(suite.repetitions >= 5);
  assert.equal(suite.warmup, 1);
  assert.equal(suite.order, "interleaved");
  const plan = expandPlan(suite, { threads: 2 });
  assert.equal(plan.length, suite.prompts.length * 6);
});

/** The default suite's simple/complex pairs, by prompt token count. */
function pairs(suite: Suite): Map<string, { simple: string[]; complex: string[] }> {
  const byLength = new Map<string, { simple: string[]; complex: string[] }>();
  for (const prompt of suite.prompts.filter((p) => p.tags.includes("pair"))) {
    const length = prompt.tags.find((tag) => tag.startsWith("length-"))!;
    const entry = byLength.get(length) ?? { simple: [], complex: [] };
    (prompt.class === "simple" ? entry.simple : entry.complex).push(prompt.text);
    byLength.set(length, entry);
  }
  return byLength;
}

Deno.test("the default suite pairs a simple and a complex prompt of equal GPT-2 token count", async () => {
  const byLength = pairs(await loadSuite("default"));
  assert.ok(byLength.size >= 2);
  for (const [length, { simple, complex }] of byLength) {
    assert.equal(simple.length, 1, length);
    assert.equal(complex.length, 1, length);
    const tokens = Number(length.slice("length-".length));
    assert.equal(encode(simple[0]!).length, tokens, simple[0]);
    assert.equal(encode(complex[0]!).length, tokens, complex[0]);
  }
});

Deno.test("the depth suite sweeps depths far beyond 50 tokens", async () => {
  const suite = await loadSuite("depth");
  const depths = suite.sweeps.depth ?? [];
  assert.ok(depths.length >= 5);
  assert.ok(Math.max(...depths) >= 4096);
  assert.ok(suite.prompts.every((p) => p.maxTokens >= 50));
});

Deno.test('`parseSuite()` accepts threads "cores", and `expandPlan()` resolves it to 1..cores', () => {
  const suite = parseSuite({ ...twoPrompts, sweeps: { threads: "cores" } }, "s.json");
  assert.equal(suite.sweeps.threads, "cores");
  const plan = expandPlan(suite, { threads: 9, cores: 3 });
  assert.equal(plan.length, 2 * 3 * (1 + 5));
  assert.deepEqual([...new Set(plan.map((run) => run.threads))].sort(), [1, 2, 3]);
  assert.deepEqual(resolveSuite(suite, { cores: 2 }).sweeps.threads, [1, 2]);
  assert.deepEqual(resolveSuite(suite, { cores: 1 }).sweeps.threads, [1]);
  assert.equal(
    resolveSuite(suite).sweeps.threads?.length,
    navigator.hardwareConcurrency,
    "logical cores by default",
  );
  const listed = parseSuite({ ...twoPrompts, sweeps: { threads: [2, 1] } }, "s.json");
  assert.equal(resolveSuite(listed, { cores: 8 }), listed, "a list stays as it is");
  assert.throws(() => resolveSuite(suite, { cores: 0 }), {
    name: "RangeError",
    message: 'Cannot resolve threads "cores" of suite "s": cores must be an integer >= 1, found 0',
  });
  assert.throws(
    () => expandPlan(suite, { cores: 1.5 }),
    /cores must be an integer >= 1, found 1.5/,
  );
});

Deno.test('`parseSuite()` rejects a threads sweep that is neither a list nor "cores", in one line', () => {
  const rule = 'must be a non-empty array of integers >= 1 or "cores"';
  for (
    const [threads, found] of [
      ["all", '"all"'],
      ["Cores", '"Cores"'],
      [2, "2"],
      [[], "[]"],
      [null, "null"],
    ] as const
  ) {
    assert.throws(
      () => parseSuite({ ...twoPrompts, sweeps: { threads } }, "s.json"),
      {
        name: "TypeError",
        message: `Cannot load suite "s.json": key "sweeps.threads" ${rule}, found ${found}`,
      },
    );
  }
  assert.throws(
    () => parseSuite({ ...twoPrompts, sweeps: { threads: ["cores"] } }, "s.json"),
    /^TypeError: Cannot load suite "s.json": key "sweeps.threads\[0\]" must be an integer >= 1, found "cores"$/,
  );
  assert.throws(
    () => parseSuite({ ...twoPrompts, sweeps: { threads: [1, 1] } }, "s.json"),
    /key "sweeps.threads" must be a list without repeated values, found \[1,1\]$/,
  );
});

Deno.test("the threads suite sweeps 1..cores with a short chat and a short raw prompt", async () => {
  const suite = await loadSuite("threads");
  assert.equal(suite.name, "threads");
  assert.match(suite.description, /thread count/);
  assert.equal(suite.sweeps.threads, "cores");
  assert.deepEqual(suite.prompts.map((p) => p.mode).sort(), ["chat", "raw"]);
  assert.ok(suite.prompts.every((p) => p.maxTokens === 64));
  assert.equal(suite.warmup, 1);
  assert.equal(suite.repetitions, 5);
  assert.equal(suite.order, "interleaved");
  assert.equal(suite.seed, 1);
  assert.equal(suite.sampling.temperature, 0);
  assert.equal(expandPlan(suite, { cores: 2 }).length, 2 * 2 * 6);
});
