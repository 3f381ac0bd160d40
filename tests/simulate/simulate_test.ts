import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { prepareTrace, SCHEMA, type SimulateOptions, simulateTrace } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

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
});
