import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import pl from "nodejs-polars";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  DatasetError,
  DatasetWriter,
  LAYOUT,
  openSession,
  readDataset,
  type RunRecord,
  SCHEMA,
  SCHEMA_VERSION,
  type SessionInfo,
  type TokenColumns,
} from "../mod.ts";
import { tableFrame } from "../lib/dataset.ts";
import { testModel } from "./_models.ts";

const INFO: SessionInfo = {
  host: "h",
  os: "Linux 6",
  arch: "x86_64",
  cpu_model: "cpu",
  cpu_cores: 2,
  cpu_math_cores: 2,
  memory_bytes: 2 ** 34,
  gpu_requested: "cpu",
  backend: "cpu",
  gpu_name: "",
  gpu_vram_bytes: 0,
  threads: 1,
  batch_size: 512,
  context_size: 4096,
  flash_attention: false,
  node_llama_cpp_version: "3.21.1",
  llama_cpp_release: "ggml-org/llama.cpp@v0.4.0",
  runtime_version: "Deno",
  model_path: "m.gguf",
  model_name: "m",
  model_architecture: "lfm2",
  model_parameters: 354_000_000,
  model_file_bytes: 2 ** 33,
  model_tensor_bytes: 2 ** 33,
  model_quantization: "Q8_0",
  model_sha256: "0".repeat(64),
  model_synthetic: true,
  model_preset: "lfm2-350m",
};

/** A hand-made run of `n` tokens, 10 ms apart after a 30 ms first token. */
function fakeRun(order: number, n: number): [RunRecord, TokenColumns] {
  const t = Float64Array.from({ length: n }, (_, i) => 30 + 10 * i);
  const tokens: TokenColumns = {
    token_index: Int32Array.from({ length: n }, (_, i) => i),
    position: Int32Array.from({ length: n }, (_, i) => 8 + i),
    phase: Array.from({ length: n }, (_, i) => (i === 0 ? "prefill" : "decode")),
    token_id: Int32Array.from({ length: n }, (_, i) => 100 + i),
    piece: Array.from({ length: n }, (_, i) => ` w${i}`),
    piece_bytes: Int32Array.from({ length: n }, (_, i) => ` w${i}`.length),
    t_ms: t,
    latency_ms: Float64Array.from({ length: n }, (_, i) => (i === 0 ? 30 : 10)),
  };
  const run: RunRecord = {
    order_index: order,
    repetition: 0,
    warmup: false,
    prompt_id: "p",
    prompt_class: "simple",
    prompt_tags: "",
    prompt_mode: "chat",
    prompt_text: "Count 1 to 10",
    prompt_tokens: 8,
    depth_tokens: 0,
    max_tokens: n,
    threads: 1,
    batch_size: 512,
    context_size: 4096,
    temperature: 0,
    top_k: 40,
    top_p: 0.95,
    sampling_seed: 0,
    stop_reason: "max_tokens",
    output_tokens: n,
    started_at_ms: 100 * order,
    prefill_ms: 25,
    ttft_ms: 30,
    decode_ms: t[n - 1]! - 30,
    total_ms: t[n - 1]!,
    e2e_tokens_per_s: n / (t[n - 1]! / 1000),
    decode_tokens_per_s: (n - 1) / ((t[n - 1]! - 30) / 1000),
    llama_prompt_eval_ms: 20,
    llama_prompt_eval_tokens: 8,
    llama_eval_ms: 9 * (n - 1),
    llama_eval_tokens: n - 1,
  };
  return [run, tokens];
}

async function fakeDataset(runs: number[]): Promise<{ dir: string; writer: DatasetWriter }> {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-ds-" });
  const writer = await DatasetWriter.create(dir, INFO, { suite: "s", seed: 7, plan: { runs } });
  for (const [order, n] of runs.entries()) await writer.writeRun(...fakeRun(order, n));
  await writer.finish("complete");
  return { dir, writer };
}

const names = (table: "sessions" | "runs" | "tokens"): string[] =>
  SCHEMA[table].map((col) => col.name);

/** Asserts that `fn` rejects with a one-line DatasetError whose message names `path`. */
async function assertRefuses(
  fn: () => Promise<unknown>,
  path: string,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(fn, (error) => {
    assert.ok(error instanceof DatasetError, String(error));
    assert.ok(error.message.includes(`"${path}"`), error.message);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "the message is one line");
    assert.equal(error.path, path);
    return true;
  });
}

// --- traced runs on the tiny model, written and read back

/** Traces three runs (chat, raw, raw with depth) of a multi-byte prompt into a new dataset. */
async function writeTracedDataset(dir: string, prompt: string): Promise<void> {
  const session = await openSession(await testModel("lfm2-tiny"), { threads: 1, gpu: "cpu" });
  try {
    const writer = await DatasetWriter.create(dir, session.info, { suite: "test" });
    const options = [
      { mode: "chat", maxTokens: 20 },
      { mode: "raw", maxTokens: 16 },
      { mode: "raw", maxTokens: 12, depth: 30 },
    ] as const;
    for (const [order, opts] of options.entries()) {
      const run = await session.trace(prompt, { ...opts, promptId: `p${order}` });
      await writer.writeRun(
        { ...run.summary, order_index: order, repetition: 0, warmup: order === 0 },
        run.tokens,
      );
    }
    await writer.finish("complete");
  } finally {
    await session.close();
  }
}

Deno.test("three traced runs are written and read back", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-ds-" });
  const prompt = "Zähle bis 10 — 日本語 😀";
  await writeTracedDataset(dir, prompt);
  const dataset = await readDataset(dir);

  await t.step("with consistent tokens", async () => {
    const sessions = dataset.sessions;
    const runs = (dataset.runs as pl.DataFrame).sort("order_index");
    const tokens = await (dataset.tokens as pl.LazyDataFrame).sort(["run_id", "token_index"])
      .collect();
    assert.deepEqual(sessions.columns, names("sessions"));
    assert.deepEqual(runs.columns, names("runs"));
    assert.deepEqual(tokens.columns, names("tokens"));
    assert.equal(sessions.height, 1);
    assert.deepEqual(sessions.getColumn("status").toArray(), ["complete"]);
    assert.deepEqual(sessions.getColumn("schema_version").toArray(), [SCHEMA_VERSION]);
    assert.equal(runs.height, 3);
    assert.deepEqual(runs.getColumn("prompt_mode").toArray(), ["chat", "raw", "raw"]);
    for (const run of runs.toRecords()) {
      assert.equal(run.prompt_text, prompt, "the multi-byte prompt round-trips");
      const rows = tokens.filter(pl.col("run_id").eq(pl.lit(run.run_id as string)));
      const n = run.output_tokens as number;
      assert.equal(rows.height, n, "one token row per output token");
      const index = rows.getColumn("token_index").toArray() as number[];
      assert.deepEqual(index, Array.from({ length: n }, (_, i) => i), "index contiguous from 0");
      const position = rows.getColumn("position").toArray() as number[];
      const first = (run.depth_tokens as number) + (run.prompt_tokens as number);
      assert.deepEqual(position, index.map((i) => first + i));
      const latency = rows.getColumn("latency_ms").toArray() as number[];
      const t = rows.getColumn("t_ms").toArray() as number[];
      assert.ok(latency.every((x) => x > 0), "latencies positive");
      assert.ok(t.every((x, i) => i === 0 || x > t[i - 1]!), "timestamps increase");
      // Token 0's latency is ttft, so the latencies of tokens 1..n-1 sum to total - ttft (decode)
      // and all of them to total, within float64 rounding of n additions (n * 1e-9 ms).
      const sum = latency.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - (run.total_ms as number)) <= n * 1e-9);
      assert.ok(Math.abs(sum - latency[0]! - (run.decode_ms as number)) <= n * 1e-9);
      assert.equal(latency[0], run.ttft_ms);
      assert.equal(run.llama_eval_tokens, n - 1);
    }
  });

  await t.step("by DuckDB with the same row counts and column types", async () => {
    const duckType = {
      utf8: "VARCHAR",
      int32: "INTEGER",
      int64: "BIGINT",
      float64: "DOUBLE",
      bool: "BOOLEAN",
    };
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      const tables = {
        sessions: [LAYOUT.sessionsGlob, dataset.sessions.height],
        runs: [LAYOUT.runsGlob, dataset.runs.height],
        tokens: [LAYOUT.tokensGlob, (await dataset.tokens.collect()).height],
      } as const;
      for (const [table, [glob, height]] of Object.entries(tables)) {
        const source = `read_parquet('${dir}/${glob}', hive_partitioning = true)`;
        const count = await connection.runAndReadAll(`SELECT count(*) AS n FROM ${source}`);
        assert.equal(Number(count.getRowObjects()[0]!.n), height, table);
        const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
        const types = Object.fromEntries(
          described.getRowObjects().map((
            row,
          ) => [String(row.column_name), String(row.column_type)]),
        );
        const expected = Object.fromEntries(
          SCHEMA[table as keyof typeof SCHEMA].map((col) => [col.name, duckType[col.type]]),
        );
        // hive_partitioning adds the `session` directory key as a column.
        assert.deepEqual(types, { ...expected, session: "VARCHAR" }, table);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a writer killed mid-session leaves every finished run readable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-ds-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(new URL("./_dataset_child.ts", import.meta.url)),
      dir,
      await testModel("lfm2-tiny"),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let written = 0;
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  let buffer = "";
  for await (const chunk of lines) {
    buffer += chunk;
    written = buffer.split("\n").filter((line) => line.startsWith("wrote ")).length;
    if (written >= 3) break;
  }
  child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  assert.ok(written >= 3, "the child wrote 3 runs before the kill");

  const dataset = await readDataset(dir);
  assert.equal(dataset.sessions.height, 1);
  assert.deepEqual(dataset.sessions.getColumn("status").toArray(), ["running"]);
  assert.ok(dataset.runs.height >= written, `${dataset.runs.height} runs on disk`);
  const tokens = await dataset.tokens.collect();
  const perRun = new Map<string, number>();
  for (const id of tokens.getColumn("run_id").toArray() as string[]) {
    perRun.set(id, (perRun.get(id) ?? 0) + 1);
  }
  for (const run of dataset.runs.toRecords()) {
    assert.equal(perRun.get(run.run_id as string), run.output_tokens, `tokens of ${run.run_id}`);
  }
  assert.equal(perRun.size, dataset.runs.height, "no tokens without a runs row");
  await Deno.remove(dir, { recursive: true });
});

// --- the writer and reader on hand-made runs

Deno.test("`readDataset()` leaves out tokens without a runs row and ignores temporary files", async () => {
  const { dir, writer } = await fakeDataset([3, 4]);
  const sessionDir = writer.sessionDir;
  // A run in flight when its process died: tokens on disk, no runs file.
  const [, orphan] = fakeRun(2, 5);
  tableFrame("tokens", {
    session_id: Array(5).fill(writer.sessionId),
    run_id: Array(5).fill(`${writer.sessionId}-000002`),
    ...orphan,
  }).writeParquet(`${sessionDir}/tokens/run-000002.parquet`);
  // A half-written temporary file.
  await Deno.writeTextFile(`${sessionDir}/runs/.run-000002.parquet.tmp-1`, "PAR1 half");
  const dataset = await readDataset(dir);
  assert.equal(dataset.runs.height, 2);
  assert.equal((await dataset.tokens.collect()).height, 7);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`readDataset()` refuses a corrupt Parquet file with one line naming it", async () => {
  const { dir, writer } = await fakeDataset([3, 4]);
  const runFile = `${dir}/${LAYOUT.runFile(writer.sessionId, 1)}`;
  const bytes = await Deno.readFile(runFile);
  await Deno.writeFile(runFile, bytes.subarray(0, bytes.length - 20));
  await assertRefuses(() => readDataset(dir), runFile, /not a readable Parquet file/);
  const tokensFile = `${dir}/${LAYOUT.tokensFile(writer.sessionId, 0)}`;
  await Deno.writeFile(runFile, bytes);
  await Deno.writeTextFile(tokensFile, "not parquet at all");
  await assertRefuses(() => readDataset(dir), tokensFile, /not a readable Parquet file/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`readDataset()` refuses another schema version with one line naming the file", async () => {
  const { dir, writer } = await fakeDataset([3]);
  const file = `${dir}/${LAYOUT.sessionFile(writer.sessionId)}`;
  const row = { ...writer.session, schema_version: SCHEMA_VERSION + 1 };
  tableFrame(
    "sessions",
    Object.fromEntries(
      names("sessions").map((name) => [name, [(row as Record<string, unknown>)[name]]]),
    ),
  ).writeParquet(file);
  await assertRefuses(
    () => readDataset(dir),
    file,
    new RegExp(`schema_version is ${SCHEMA_VERSION + 1}, this tokentrace reads ${SCHEMA_VERSION}`),
  );
  await assertRefuses(() => DatasetWriter.resume(writer.sessionDir), file, /schema_version/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`readDataset()` refuses foreign files and directories", async () => {
  const { dir, writer } = await fakeDataset([3]);
  const tokensFile = `${dir}/${LAYOUT.tokensFile(writer.sessionId, 0)}`;
  const frame = pl.readParquet(tokensFile);
  frame.withColumn(pl.col("t_ms").cast(pl.Float32)).writeParquet(tokensFile);
  await assertRefuses(
    () => readDataset(dir),
    tokensFile,
    /column "t_ms" has type Float32, expected Float64/,
  );
  frame.withColumn(pl.lit(1).alias("extra")).writeParquet(tokensFile);
  await assertRefuses(
    () => readDataset(dir),
    tokensFile,
    /column "extra" is not in the tokens table/,
  );
  frame.writeParquet(tokensFile);
  const runFile = `${dir}/${LAYOUT.runFile(writer.sessionId, 0)}`;
  pl.readParquet(runFile).drop("threads").writeParquet(runFile);
  await assertRefuses(
    () => readDataset(dir),
    runFile,
    /column "threads" of the runs table is missing/,
  );
  await Deno.remove(runFile);
  await Deno.mkdir(`${dir}/models`);
  await assertRefuses(
    () => readDataset(dir),
    `${dir}/models`,
    /models" is not a session directory/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`DatasetWriter.create()` never gives two writers the same session directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-ds-" });
  const writers = await Promise.all(
    Array.from({ length: 12 }, () => DatasetWriter.create(dir, INFO)),
  );
  assert.equal(new Set(writers.map((w) => w.sessionDir)).size, 12);
  for (const [i, writer] of writers.entries()) await writer.writeRun(...fakeRun(0, i + 1));
  const dataset = await readDataset(dir);
  assert.equal(dataset.sessions.height, 12);
  assert.equal((await dataset.tokens.collect()).height, (12 * 13) / 2);
  for (const writer of writers) assert.match(writer.sessionId, /^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`DatasetWriter.resume()` continues a session without rewriting its runs", async () => {
  const { dir, writer } = await fakeDataset([3, 4, 5]);
  await Deno.remove(`${dir}/${LAYOUT.runFile(writer.sessionId, 1)}`);
  const again = await DatasetWriter.resume(writer.sessionDir);
  assert.equal(again.sessionId, writer.sessionId);
  assert.deepEqual(again.finishedRuns, [0, 2]);
  assert.deepEqual(again.plan, { runs: [3, 4, 5] });
  assert.equal(again.session.status, "running");
  assert.equal(again.session.finished_at_utc, "");
  await assert.rejects(again.writeRun(...fakeRun(2, 5)), {
    name: "RangeError",
    message: `Cannot write run 2 of session ${writer.sessionId}: it is already on disk`,
  });
  await again.writeRun(...fakeRun(1, 4));
  await again.finish("interrupted");
  const dataset = await readDataset(dir);
  assert.deepEqual(dataset.sessions.getColumn("status").toArray(), ["interrupted"]);
  const runs = (dataset.runs as pl.DataFrame).sort("order_index");
  assert.deepEqual(runs.getColumn("output_tokens").toArray(), [
    3,
    4,
    5,
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`DatasetWriter.writeRun()` refuses a token count that differs from output_tokens", async () => {
  const { dir, writer } = await fakeDataset([]);
  const [run, tokens] = fakeRun(0, 3);
  await assert.rejects(writer.writeRun({ ...run, output_tokens: 4 }, tokens), {
    name: "RangeError",
    message: "Cannot write run 0: output_tokens is 4 but 3 tokens were given",
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`tableFrame()` takes exactly the schema's columns", () => {
  const [, tokens] = fakeRun(0, 2);
  assert.throws(() => tableFrame("tokens", { ...tokens }), {
    name: "TypeError",
    message: 'Cannot build the tokens table: column "session_id" is missing',
  });
  assert.throws(
    () =>
      tableFrame("tokens", { session_id: ["s", "s"], run_id: ["r", "r"], ...tokens, x: [1, 2] }),
    {
      name: "TypeError",
      message: 'Cannot build the tokens table: column "x" is not in the schema',
    },
  );
  const frame = tableFrame("tokens", { session_id: ["s", "s"], run_id: ["r", "r"], ...tokens });
  assert.deepEqual(frame.columns, names("tokens"));
  assert.equal(String(frame.schema.position), String(pl.Int32));
});
