import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { prepareTrace, SCHEMA, type SimulateOptions, simulateTrace } from "../../mod.ts";
import { simulateColumns, simulatePrepared } from "../../lib/simulate/_columns.ts";
import { preparedDigest, traceDigest } from "./_digest.ts";

/** `simulateTrace()` with its tables cast to what they are at run time: Polars DataFrames. */
function polarsTrace(
  options: SimulateOptions,
): Record<"sessions" | "runs" | "tokens", pl.DataFrame> {
  const trace = simulateTrace(options);
  return {
    sessions: trace.sessions as pl.DataFrame,
    runs: trace.runs as pl.DataFrame,
    tokens: trace.tokens as pl.DataFrame,
  };
}

const DTYPE = {
  utf8: "DataType(String)",
  int32: "DataType(Int32)",
  int64: "DataType(Int64)",
  float64: "DataType(Float64)",
  bool: "DataType(Bool)",
};

Deno.test("`simulateTrace()` returns exactly the schema's columns and types", () => {
  const trace = polarsTrace({ repetitions: 1 });
  for (const name of ["sessions", "runs", "tokens"] as const) {
    const schema = trace[name].schema;
    assert.deepEqual(Object.keys(schema), SCHEMA[name].map((c) => c.name), name);
    for (const c of SCHEMA[name]) {
      assert.equal(String(schema[c.name]), DTYPE[c.type], `${name}.${c.name}`);
    }
  }
  assert.equal(trace.sessions.height, 1);
});

Deno.test("`simulateTrace()` is reproducible from its seed", () => {
  const a = polarsTrace({ seed: 11, repetitions: 2 });
  const b = polarsTrace({ seed: 11, repetitions: 2 });
  const c = polarsTrace({ seed: 12, repetitions: 2 });
  assert.ok(a.tokens.frameEqual(b.tokens));
  assert.ok(a.runs.frameEqual(b.runs));
  assert.ok(!a.tokens.getColumn("latency_ms").seriesEqual(c.tokens.getColumn("latency_ms")));
});

Deno.test("`simulateTrace()` keeps positions, times and run totals consistent", () => {
  const trace = polarsTrace({ seed: 3, repetitions: 2, depths: [0, 100], warmupRuns: 2 });
  const runs = trace.runs.toRecords() as Record<string, number | string | boolean>[];
  assert.deepEqual(runs.map((r) => r.warmup), [true, true, ...Array(16).fill(false)]);
  const joined = trace.tokens.join(
    trace.runs.select("run_id", "prompt_tokens", "depth_tokens", "total_ms", "ttft_ms"),
    { on: "run_id" },
  );
  const check = joined.select(
    pl.col("position").eq(
      pl.col("depth_tokens").add(pl.col("prompt_tokens")).add(pl.col("token_index")),
    )
      .all().alias("positions"),
    pl.col("phase").eq(
      pl.when(pl.col("token_index").eq(0)).then(pl.lit("prefill")).otherwise(pl.lit("decode")),
    )
      .all().alias("phases"),
    pl.col("t_ms").sub(pl.col("latency_ms").cumSum().over("run_id")).abs().max().alias("t_error"),
  ).row(0);
  assert.deepEqual(check.slice(0, 2), [true, true]);
  assert.ok(check[2] < 1e-9);
  const last = joined.filter(pl.col("token_index").eq(49)).select(
    pl.col("t_ms").sub(pl.col("total_ms")).abs().max(),
  )
    .row(0)[0];
  assert.ok(last < 1e-9);
  for (const r of runs) {
    assert.ok(
      Math.abs((r.e2e_tokens_per_s as number) - (50 / (r.total_ms as number)) * 1000) < 1e-9,
    );
  }
});

Deno.test("`simulateTrace()` rejects an empty plan and a negative count", () => {
  assert.throws(
    () => simulateTrace({ prompts: [] }),
    new RangeError("Cannot simulate a trace: prompts must list at least one prompt, found none"),
  );
  assert.throws(
    () => simulateTrace({ repetitions: 0 }),
    new RangeError("Cannot simulate a trace: repetitions must be an integer >= 1, found 0"),
  );
});

Deno.test("`simulatePrepared()` equals `prepareTrace()` of the simulated tables", () => {
  const options = { seed: 5, depths: [0, 64], repetitions: 2, tokenContentUsPerByte: 50 };
  assert.deepEqual(simulatePrepared(options), prepareTrace(simulateTrace(options)));
  const realistic = {
    ...options,
    arCoefficient: 0.5,
    innovationDf: 4,
    contentBlockTokens: 8,
    driftAmplitude: 0.04,
    latencyScale: 1.1,
  };
  assert.deepEqual(simulatePrepared(realistic), prepareTrace(simulateTrace(realistic)));
});

// Digests of the output before the realistic-noise options existed (commit 8db559c): the
// defaults of the new options must leave every value bit-identical.
const RICH = {
  seed: 5,
  depths: [0, 512],
  tokenContentUsPerByte: 100,
  driftUsPerMinute: 30,
  repetitions: 3,
};
Deno.test("the realistic-noise options at their defaults leave the output bit-identical", async () => {
  assert.equal(
    await traceDigest(simulateTrace()),
    "723e61b9ee77c8511a1939805c8fa40d557f456a8fdf76ce09b946aa5c64392f",
  );
  assert.equal(
    await traceDigest(simulateTrace(RICH)),
    "9fd15f855a8ffbd720c2b9955d1765a306ba86766133ef89f7df266aa3f951e3",
  );
  assert.equal(
    await preparedDigest(simulatePrepared()),
    "e6d83ad444b48e6b3c98771ef2109cf91f9f7ff3bb3d2d0ce039f7524db32e9d",
  );
  assert.equal(
    await preparedDigest(simulatePrepared(RICH)),
    "5de556b936caaed1978b3394417ef0230bc47997bc19c73dd1f91f3c6b9165d5",
  );
});

/** Decode-token noise of a trace with every systematic effect switched off, run by run. */
function noiseByRun(options: SimulateOptions): number[][] {
  const sim = simulateColumns({
    runSdMs: 0,
    slopeUsPerToken: 0,
    classOffsetsUs: {},
    warmupRuns: 0,
    stallProbability: 0,
    repetitions: 100,
    ...options,
  });
  const out: number[][] = sim.plan.map(() => []);
  for (let k = 0; k < sim.tokens.index.length; k++) {
    if (sim.tokens.index[k]! >= 1) out[sim.tokens.run[k]!]!.push(sim.tokens.latency[k]! - 20);
  }
  return out;
}

function moments(runs: number[][]): { sd: number; lag1: number; kurtosis: number } {
  const all = runs.flat();
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  let m2 = 0, m4 = 0, c1 = 0, n1 = 0;
  for (const x of all) {
    m2 += (x - mean) ** 2;
    m4 += (x - mean) ** 4;
  }
  for (const r of runs) {
    for (let j = 1; j < r.length; j++) {
      c1 += (r[j]! - mean) * (r[j - 1]! - mean);
      n1++;
    }
  }
  m2 /= all.length;
  return { sd: Math.sqrt(m2), lag1: c1 / n1 / m2, kurtosis: m4 / all.length / m2 ** 2 };
}

Deno.test("`arCoefficient` gives AR(1) noise whose variance stays `noiseSdMs`^2", () => {
  for (const phi of [0, 0.3, 0.7, -0.4]) {
    const m = moments(noiseByRun({ seed: 2, arCoefficient: phi, noiseSdMs: 2 }));
    assert.ok(Math.abs(m.lag1 - phi) < 0.04, `phi ${phi}: lag-1 ${m.lag1}`);
    assert.ok(Math.abs(m.sd - 2) < 0.08, `phi ${phi}: sd ${m.sd}`);
  }
});

Deno.test("`innovationDf` gives heavy-tailed unit-variance innovations", () => {
  const gauss = moments(noiseByRun({ seed: 4 }));
  const t5 = moments(noiseByRun({ seed: 4, innovationDf: 5, repetitions: 400 }));
  assert.ok(Math.abs(gauss.kurtosis - 3) < 0.2, `Gaussian kurtosis ${gauss.kurtosis}`);
  // t(5) has variance 5/3 before rescaling and excess kurtosis 6
  assert.ok(Math.abs(t5.sd - 1) < 0.04, `t(5) sd ${t5.sd}`);
  assert.ok(t5.kurtosis > 5.5, `t(5) kurtosis ${t5.kurtosis}`);
});

Deno.test("`contentBlockTokens` clusters character classes but keeps the piece mix", () => {
  const classRuns = (blocks: number) => {
    const trace = simulatePrepared({ seed: 9, repetitions: 50, contentBlockTokens: blocks });
    const t = trace.tokens;
    let same = 0, pairs = 0, bytes = 0;
    for (let k = 1; k < t.count; k++) {
      bytes += t.pieceBytes[k]!;
      if (t.run[k] !== t.run[k - 1]) continue;
      pairs++;
      if (t.charClass[k] === t.charClass[k - 1]) same++;
    }
    return { same: same / pairs, bytes: bytes / (t.count - 1) };
  };
  const independent = classRuns(1);
  const clustered = classRuns(8);
  // independent draws share a class by chance about a quarter of the time; blocks of mean 8
  // share it at least 7/8 of the time
  assert.ok(independent.same < 0.4, `independent ${independent.same}`);
  assert.ok(clustered.same > 0.85, `clustered ${clustered.same}`);
  assert.ok(Math.abs(clustered.bytes - independent.bytes) < 0.4, "mean piece bytes");
});

Deno.test("`driftAmplitude` multiplies decode latency by a sine over session time", () => {
  const base = { seed: 6, noiseSdMs: 0, runSdMs: 0, stallProbability: 0, warmupRuns: 0 };
  const flat = simulateColumns(base);
  const drift = simulateColumns({ ...base, driftAmplitude: 0.04, driftPeriodS: 10 });
  let lo = Infinity, hi = -Infinity;
  for (let k = 0; k < flat.tokens.index.length; k++) {
    if (flat.tokens.index[k] === 0) {
      assert.equal(drift.tokens.latency[k], flat.tokens.latency[k], "TTFT untouched");
      continue;
    }
    const ratio = drift.tokens.latency[k]! / flat.tokens.latency[k]!;
    lo = Math.min(lo, ratio);
    hi = Math.max(hi, ratio);
  }
  assert.ok(lo >= 0.96 - 1e-12 && lo < 0.961, `lowest factor ${lo}`);
  assert.ok(hi <= 1.04 + 1e-12 && hi > 1.039, `highest factor ${hi}`);
});

Deno.test("`latencyScale` scales every latency after every other effect", () => {
  const options = { seed: 8, arCoefficient: 0.3, driftAmplitude: 0.04, contentBlockTokens: 4 };
  const one = simulateColumns(options);
  const slow = simulateColumns({ ...options, latencyScale: 1.25 });
  for (let k = 0; k < one.tokens.latency.length; k++) {
    const ratio = slow.tokens.latency[k]! / one.tokens.latency[k]!;
    assert.ok(Math.abs(ratio - 1.25) < 1e-12, `token ${k}: ratio ${ratio}`);
  }
});

Deno.test("`simulateTrace()` rejects out-of-range noise options", () => {
  const cases: [SimulateOptions, string][] = [
    [{ arCoefficient: 1 }, "arCoefficient must be a number in (-1, 1), found 1"],
    [
      { innovationDf: 2 },
      "innovationDf must be > 2 (Infinity for Gaussian noise), found 2",
    ],
    [{ contentBlockTokens: 0.5 }, "contentBlockTokens must be a finite number >= 1, found 0.5"],
    [{ driftAmplitude: -0.1 }, "driftAmplitude must be a number in [0, 1), found -0.1"],
    [{ driftPeriodS: 0 }, "driftPeriodS must be a finite number > 0, found 0"],
    [{ latencyScale: Number.NaN }, "latencyScale must be a finite number > 0, found NaN"],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => simulatePrepared(options),
      new RangeError(`Cannot simulate a trace: ${message}`),
    );
  }
});
