/**
 * Reference check: tokentrace's fitted numbers against statsmodels (Debian's
 * python3-statsmodels under /usr/bin/python3), to 1e-6 relative, on a simulated trace with
 * realistic noise and a depth sweep, and on the committed data/sample-trace.
 */

import assert from "node:assert/strict";
import { fitSlowdown, readDataset, testPromptClass, testTokenContent } from "../../mod.ts";
import {
  type AnalysisInput,
  type PreparedTrace,
  prepareTrace,
} from "../../lib/analysis/prepare.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./statsmodels_ref.py", import.meta.url).pathname;
const SAMPLE = new URL("../../data/sample-trace", import.meta.url).pathname;
const FEATURES = [
  "piece_bytes",
  "digits",
  "punctuation",
  "whitespace",
  "non-ascii",
  "mixed",
  "word_initial",
  "id_rank",
];

interface Reference {
  slope_us: number;
  content: { coef_us: Record<string, number>; partial_r2_pct: number; wald_f: number };
  prompt_class?: { f: number; p: number; effect_us: Record<string, number> };
  depth_sweep?: { slope_us: number; low_us: number; high_us: number };
}

async function requireStatsmodels(): Promise<void> {
  const probe = await new Deno.Command(PYTHON, {
    args: ["-c", "import statsmodels, pandas"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!probe.success) {
    throw new Error(
      `statsmodels or pandas is missing under ${PYTHON}: run .ci/system_deps.sh (installs python3-statsmodels and python3-pandas)`,
    );
  }
}

/** Writes the decode tokens and runs of the non-warm-up runs as CSV and fits them in Python. */
async function reference(prep: PreparedTrace): Promise<Reference> {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-statsmodels-" });
  try {
    const r = prep.runs, t = prep.tokens;
    const keep = (i: number) => r.warmup[i] === 0 && r.decodeTokens[i]! > 0;
    const tokenRows = ["run,position,latency_ms,piece_bytes,char_class,word_initial,id_rank"];
    for (let k = 0; k < t.count; k++) {
      if (!keep(t.run[k]!)) continue;
      // String() of a double is its shortest round-trip form: Python reads the same bits
      tokenRows.push(
        [
          t.run[k],
          t.position[k],
          t.latencyMs[k],
          t.pieceBytes[k],
          t.charClass[k],
          t.wordInitial[k],
          t.idRank[k],
        ]
          .map(String).join(","),
      );
    }
    const runRows = ["run,prompt_class,prompt_tokens,depth_tokens"];
    for (let i = 0; i < r.count; i++) {
      if (!keep(i)) continue;
      const cls = prep.classes[r.promptClass[i]!]!;
      assert.ok(!/[",\n]/.test(cls), `class name ${cls} needs no CSV quoting`);
      runRows.push([i, cls, r.promptTokens[i], r.depthTokens[i]].map(String).join(","));
    }
    await Deno.writeTextFile(`${dir}/tokens.csv`, tokenRows.join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/runs.csv`, runRows.join("\n") + "\n");
    const out = await new Deno.Command(PYTHON, { args: [SCRIPT, dir], stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`statsmodels_ref.py failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function close(actual: number, expected: number, what: string): void {
  const scale = Math.max(Math.abs(actual), Math.abs(expected));
  assert.ok(
    Math.abs(actual - expected) <= 1e-6 * scale,
    `${what}: tokentrace ${actual}, statsmodels ${expected} (relative ${
      Math.abs(actual - expected) / scale
    })`,
  );
}

/** Compares every fitted number statsmodels reproduces; returns how many were compared. */
async function compare(input: AnalysisInput): Promise<number> {
  const prep = prepareTrace(input);
  const ref = await reference(prep);
  let compared = 0;
  const check = (actual: number, expected: number, what: string) => {
    close(actual, expected, what);
    compared++;
  };
  // stalls kept in every fit, so both sides use the same rows whatever the stall rule
  const slowdown = fitSlowdown(prep, { resamples: 2, excludeStalls: false });
  check(slowdown.slopeUsPerToken.value, ref.slope_us, "within-run slope");

  const content = testTokenContent(prep, { permutations: 9, resamples: 2, excludeStalls: false });
  for (const e of content.effects) {
    const expected = ref.content.coef_us[e.feature.replace("-", "_")];
    if (expected === undefined) {
      assert.ok(Number.isNaN(e.effectUs.value), `${e.feature} has no within-run variation`);
    } else check(e.effectUs.value, expected, `content effect ${e.feature}`);
  }
  assert.equal(content.effects.length, FEATURES.length);
  check(content.partialR2Pct, ref.content.partial_r2_pct, "content partial R2");
  check(content.test.statistic, ref.content.wald_f, "content cluster-robust Wald F (CR1)");

  const cls = testPromptClass(prep, { permutations: 9, resamples: 2, excludeStalls: false });
  if (ref.prompt_class === undefined) assert.equal(cls.test, null);
  else {
    check(cls.test!.statistic, ref.prompt_class.f, "prompt-class F");
    check(cls.fTestPValue, ref.prompt_class.p, "prompt-class F-test p-value");
    for (const e of cls.effects) {
      check(e.effectUs.value, ref.prompt_class.effect_us[e.class]!, `class effect ${e.class}`);
    }
  }

  if (ref.depth_sweep === undefined) assert.equal(slowdown.depthSweep, null);
  else {
    const sweep = slowdown.depthSweep!.slopeUsPerToken;
    check(sweep.value, ref.depth_sweep.slope_us, "depth-sweep slope");
    check(sweep.low, ref.depth_sweep.low_us, "depth-sweep slope t interval, low");
    check(sweep.high, ref.depth_sweep.high_us, "depth-sweep slope t interval, high");
  }
  return compared;
}

Deno.test("tokentrace's fits equal statsmodels' on a simulated trace with realistic noise", async () => {
  await requireStatsmodels();
  const trace = simulatePrepared({
    seed: 4,
    repetitions: 6,
    depths: [0, 256, 1024],
    arCoefficient: 0.4,
    innovationDf: 4,
    contentBlockTokens: 8,
    driftAmplitude: 0.04,
    tokenContentUsPerByte: 60,
    stallProbability: 0.003,
  });
  assert.ok((await compare(trace)) >= 16);
});

Deno.test("tokentrace's fits equal statsmodels' on data/sample-trace", async () => {
  await requireStatsmodels();
  assert.ok((await compare(await readDataset(SAMPLE))) >= 4);
});
