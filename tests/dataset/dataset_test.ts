import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import pl from "nodejs-polars";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  compactSession,
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
} from "../../mod.ts";
import { tableFrame } from "../../lib/schema/_table.ts";
import { testModel } from "../_models.ts";

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
  source: "in-process",
  endpoint_url: "",
  engine_name: "llama.cpp",
  engine_version: "ggml-org/llama.cpp@v0.4.0",
  model_path: "m.gguf",
  model_name: "m",
  model_architecture: "lfm2",
  model_parameters: 354_000_000,
  model_file_bytes: 2 ** 33,
  model_tensor_bytes: 2 ** 33,
  model_quantization: "Q8_0",
  model_dominant_type: "Q8_0",
  model_type_shares: "Q8_0:0.9900,F32:0.0100",
  model_sha256: "0".repeat(64),
  model_synthetic: true,
  model_preset: "lfm2-350m",
};

/**
 * A hand-made run of `n` tokens, 10 ms apart (plus a per-run fraction) after a 30 ms first
 * token, with multi-byte pieces.
 */
function fakeRun(order: number, n: number): [RunRecord, TokenColumns] {
  const t = Float64Array.from({ length: n }, (_, i) => 30 + (10 + order / 7) * i);
  const piece = Array.from({ length: n }, (_, i) => `${[" w", "é", " 日本", "😀"][i % 4]}${order}`);
  const tokens: TokenColumns = {
    token_index: Int32Array.from({ length: n }, (_, i) => i),
    position: Int32Array.from({ length: n }, (_, i) => 8 + i),
    phase: Array.from({ length: n }, (_, i) => (i === 0 ? "prefill" : "decode")),
    token_id: Int32Array.from({ length: n }, (_, i) => 100 + i + order),
    piece,
    piece_bytes: Int32Array.from(piece, (p) => new TextEncoder().encode(p).length),
    t_ms: t,
    latency_ms: Float64Array.from({ length: n }, (_, i) => (i === 0 ? 30 : t[i]! - t[i - 1]!)),
    chunk_tokens: new Int32Array(n).fill(1),
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
    cpu_affinity: "",
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
    engine_prompt_ms: 20,
    engine_prompt_tokens: 8,
    engine_decode_ms: 9 * (n - 1),
    engine_decode_tokens: n - 1,
  };
  return [run, tokens];
}

/**
 * A dataset of one session with runs of the given token counts, written run by run; finished
 * (so compacted into one range file pair) unless `finish` is false (one file pair per run).
 */
async function fakeDataset(
  runs: number[],
  { finish = true }: { finish?: boolean } = {},
): Promise<{ dir: string; writer: DatasetWriter }> {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-ds-" });
  const writer = await DatasetWriter.create(dir, INFO, { suite: "s", seed: 7, plan: { runs } });
  for (const [order, n] of runs.entries()) await writer.writeRun(...fakeRun(order, n));
  if (finish) await writer.finish("complete");
  return { dir, writer };
}

/** The names of the files in a session's `runs` or `tokens` directory, sorted. */
async function filesIn(writer: DatasetWriter, table: "runs" | "tokens"): Promise<string[]> {
  const entries = await Array.fromAsync(Deno.readDir(`${writer.sessionDir}/${table}`));
  return entries.map((entry) => entry.name).sort();
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
      assert.equal(run.engine_decode_tokens, n - 1);
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
  const { dir, writer } = await fakeDataset([3, 4], { finish: false });
  const runFile = `${dir}/${LAYOUT.runFile(writer.sessionId, 1)}`;
  const bytes = await Deno.readFile(runFile);
  await Deno.writeFile(runFile, bytes.subarray(0, bytes.length - 20));
  await assertRefuses(() => readDataset(dir), runFile, /not a readable Parquet file/);
  await assertRefuses(() => compactSession(writer.sessionDir), runFile, /not a readable/);
  const tokensFile = `${dir}/${LAYOUT.tokensFile(writer.sessionId, 0)}`;
  await Deno.writeFile(runFile, bytes);
  await Deno.writeTextFile(tokensFile, "not parquet at all");
  await assertRefuses(() => readDataset(dir), tokensFile, /not a readable Parquet file/);
  await assertRefuses(() => compactSession(writer.sessionDir), tokensFile, /not a readable/);
  // A failed compaction leaves the per-run files as they were, and no range file.
  assert.deepEqual(await filesIn(writer, "runs"), ["run-000000.parquet", "run-000001.parquet"]);
  assert.deepEqual(await filesIn(writer, "tokens"), ["run-000000.parquet", "run-000001.parquet"]);
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
  const { dir, writer } = await fakeDataset([3], { finish: false });
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
  const { dir, writer } = await fakeDataset([3, 4, 5], { finish: false });
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
  assert.deepEqual(await filesIn(writer, "runs"), ["runs-000000-000002.parquet"]);
  assert.deepEqual(await filesIn(writer, "tokens"), ["runs-000000-000002.parquet"]);
  await Deno.remove(dir, { recursive: true });
});

/** Runs and tokens of a dataset in a fixed order, as records. */
async function records(dir: string): Promise<{ runs: unknown[]; tokens: unknown[] }> {
  const dataset = await readDataset(dir);
  return {
    runs: (dataset.runs as pl.DataFrame).sort(["session_id", "order_index"]).toRecords(),
    tokens: (await (dataset.tokens as pl.LazyDataFrame).collect())
      .sort(["run_id", "token_index"]).toRecords(),
  };
}

Deno.test("`compactSession()` keeps every row and value in one range file pair", async () => {
  const { dir, writer } = await fakeDataset([3, 1, 4, 2], { finish: false });
  const before = await records(dir);
  assert.equal(before.tokens.length, 10);
  assert.deepEqual(await compactSession(writer.sessionDir), { runs: 4, tokens: 10 });
  assert.deepEqual(await filesIn(writer, "runs"), ["runs-000000-000003.parquet"]);
  assert.deepEqual(await filesIn(writer, "tokens"), ["runs-000000-000003.parquet"]);
  assert.deepEqual(await records(dir), before);
  const tokens = pl.readParquet(`${dir}/${LAYOUT.tokensRangeFile(writer.sessionId, 0, 3)}`);
  const runIds = tokens.getColumn("run_id").toArray() as string[];
  assert.deepEqual(runIds, [...runIds].sort(), "tokens stay in run order");
  assert.deepEqual(await compactSession(writer.sessionDir), { runs: 0, tokens: 0 });
  assert.deepEqual(await records(dir), before);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`DatasetWriter.resume()` after a compaction adds the runs a range file lacks", async () => {
  const { dir, writer } = await fakeDataset([3, 4, 5], { finish: false });
  await Deno.remove(`${dir}/${LAYOUT.runFile(writer.sessionId, 1)}`);
  await Deno.remove(`${dir}/${LAYOUT.tokensFile(writer.sessionId, 1)}`);
  await writer.finish("interrupted");
  assert.deepEqual(await filesIn(writer, "runs"), ["runs-000000-000002.parquet"]);
  const again = await DatasetWriter.resume(writer.sessionDir);
  assert.deepEqual(again.finishedRuns, [0, 2]);
  await assert.rejects(again.writeRun(...fakeRun(2, 5)), {
    name: "RangeError",
    message: `Cannot write run 2 of session ${writer.sessionId}: it is already on disk`,
  });
  await again.writeRun(...fakeRun(1, 4));
  await again.finish("complete");
  assert.deepEqual(await filesIn(writer, "runs"), [
    "runs-000000-000002.parquet",
    "runs-000001-000001.parquet",
  ]);
  const dataset = await readDataset(dir);
  assert.deepEqual(dataset.sessions.getColumn("status").toArray(), ["complete"]);
  assert.deepEqual(dataset.runs.getColumn("order_index").toArray(), [0, 1, 2]);
  assert.deepEqual(dataset.runs.getColumn("output_tokens").toArray(), [3, 4, 5]);
  assert.equal((await dataset.tokens.collect()).height, 12);
  assert.deepEqual((await DatasetWriter.resume(writer.sessionDir)).finishedRuns, [0, 1, 2]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a compaction that died before deleting the per-run files counts no run twice", async () => {
  const { dir, writer } = await fakeDataset([3, 4, 2], { finish: false });
  const saved = await Deno.makeTempDir({ prefix: "tokentrace-ds-saved-" });
  const perRun: string[] = [];
  for (const table of ["runs", "tokens"] as const) {
    for (const name of await filesIn(writer, table)) perRun.push(`${table}/${name}`);
  }
  for (const file of perRun) {
    await Deno.copyFile(`${writer.sessionDir}/${file}`, `${saved}/${file.replace("/", "-")}`);
  }
  const restore = async (): Promise<void> => {
    for (const file of perRun) {
      await Deno.copyFile(`${saved}/${file.replace("/", "-")}`, `${writer.sessionDir}/${file}`);
    }
  };
  await writer.finish("complete");
  const compacted = await records(dir);
  assert.equal(compacted.runs.length, 3);
  assert.equal(compacted.tokens.length, 9);

  // The range files renamed into place, the per-run files still there.
  await restore();
  assert.equal((await filesIn(writer, "runs")).length, 4);
  assert.deepEqual(await records(dir), compacted);
  // ... and a tokens range file whose runs range file was never written.
  const rangeTokens = `${dir}/${LAYOUT.tokensRangeFile(writer.sessionId, 0, 2)}`;
  const stale = `${dir}/${LAYOUT.tokensRangeFile(writer.sessionId, 1, 2)}`;
  await Deno.copyFile(rangeTokens, stale);
  assert.deepEqual(await records(dir), compacted);

  // The next compaction deletes them and merges nothing.
  assert.deepEqual(await compactSession(writer.sessionDir), { runs: 0, tokens: 0 });
  assert.deepEqual(await filesIn(writer, "runs"), ["runs-000000-000002.parquet"]);
  assert.deepEqual(await filesIn(writer, "tokens"), ["runs-000000-000002.parquet"]);
  assert.deepEqual(await records(dir), compacted);

  // So does a resume.
  await restore();
  await Deno.copyFile(rangeTokens, stale);
  assert.deepEqual((await DatasetWriter.resume(writer.sessionDir)).finishedRuns, [0, 1, 2]);
  assert.deepEqual(await filesIn(writer, "runs"), ["runs-000000-000002.parquet"]);
  assert.deepEqual(await filesIn(writer, "tokens"), ["runs-000000-000002.parquet"]);
  assert.deepEqual(await records(dir), compacted);
  await Deno.remove(saved, { recursive: true });
  await Deno.remove(dir, { recursive: true });
});

/** The token columns of several runs, concatenated in order. */
function concatTokens(parts: readonly TokenColumns[]): TokenColumns {
  const join = <T>(get: (t: TokenColumns) => ArrayLike<T>): T[] =>
    parts.flatMap((t) => Array.from(get(t)));
  return {
    token_index: Int32Array.from(join((t) => t.token_index)),
    position: Int32Array.from(join((t) => t.position)),
    phase: join((t) => t.phase),
    token_id: Int32Array.from(join((t) => t.token_id)),
    piece: join((t) => t.piece),
    piece_bytes: Int32Array.from(join((t) => t.piece_bytes)),
    t_ms: Float64Array.from(join((t) => t.t_ms)),
    latency_ms: Float64Array.from(join((t) => t.latency_ms)),
    chunk_tokens: Int32Array.from(join((t) => t.chunk_tokens)),
  };
}

Deno.test("`DatasetWriter.writeRuns()` writes many runs as one range file pair that reads back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-ds-" });
  const writer = await DatasetWriter.create(dir, INFO);
  const orders = [5, 2, 9];
  const parts = orders.map((order, i) => fakeRun(order, [3, 1, 4][i]!));
  const ids = await writer.writeRuns(
    parts.map(([run]) => run),
    concatTokens(parts.map(([, tokens]) => tokens)),
  );
  const id = (order: number): string => `${writer.sessionId}-${String(order).padStart(6, "0")}`;
  assert.deepEqual(ids, orders.map(id));
  assert.deepEqual(await filesIn(writer, "runs"), ["runs-000002-000009.parquet"]);
  assert.deepEqual(await filesIn(writer, "tokens"), ["runs-000002-000009.parquet"]);
  assert.deepEqual(writer.finishedRuns, [2, 5, 9]);

  const [run3, tokens3] = fakeRun(3, 2);
  await assert.rejects(writer.writeRun(...fakeRun(2, 1)), {
    name: "RangeError",
    message: `Cannot write run 2 of session ${writer.sessionId}: it is already on disk`,
  });
  await assert.rejects(writer.writeRuns([run3, run3], concatTokens([tokens3, tokens3])), {
    name: "RangeError",
    message: "Cannot write runs: order_index 3 is given twice",
  });
  await assert.rejects(writer.writeRuns([run3], concatTokens([tokens3, tokens3])), {
    name: "RangeError",
    message: "Cannot write runs: their output_tokens sum to 2 but 4 tokens were given",
  });
  const { piece: _, ...noPiece } = tokens3;
  await assert.rejects(writer.writeRuns([run3], noPiece as TokenColumns), {
    name: "TypeError",
    message: 'Cannot build the tokens table: column "piece" is missing',
  });
  await writer.writeRun(run3, tokens3);
  await writer.finish("complete");
  assert.deepEqual(await filesIn(writer, "runs"), [
    "runs-000002-000009.parquet",
    "runs-000003-000003.parquet",
  ]);

  const dataset = await readDataset(dir);
  assert.deepEqual(dataset.runs.getColumn("order_index").toArray(), [2, 3, 5, 9]);
  assert.deepEqual(dataset.runs.getColumn("run_id").toArray(), [2, 3, 5, 9].map(id));
  const tokens = await (dataset.tokens as pl.LazyDataFrame).collect();
  for (const [run, columns] of [...parts, [run3, tokens3] as const]) {
    const rows = tokens.filter(pl.col("run_id").eq(pl.lit(id(run.order_index))))
      .sort("token_index");
    assert.deepEqual(
      rows.getColumn("session_id").toArray(),
      Array(run.output_tokens).fill(writer.sessionId),
    );
    for (const [name, values] of Object.entries(columns)) {
      assert.deepEqual(rows.getColumn(name).toArray(), Array.from(values), name);
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`readDataset()` refuses a corrupt or misnamed range file with one line naming it", async () => {
  const { dir, writer } = await fakeDataset([3, 4]);
  const runsRange = `${dir}/${LAYOUT.runsRangeFile(writer.sessionId, 0, 1)}`;
  const tokensRange = `${dir}/${LAYOUT.tokensRangeFile(writer.sessionId, 0, 1)}`;
  const runsBytes = await Deno.readFile(runsRange);
  const tokensBytes = await Deno.readFile(tokensRange);
  await Deno.writeFile(runsRange, runsBytes.subarray(0, runsBytes.length - 20));
  await assertRefuses(() => readDataset(dir), runsRange, /not a readable Parquet file/);
  await assertRefuses(() => compactSession(writer.sessionDir), runsRange, /not a readable/);
  await assertRefuses(() => DatasetWriter.resume(writer.sessionDir), runsRange, /not a readable/);
  await Deno.writeFile(runsRange, runsBytes);
  await Deno.writeTextFile(tokensRange, "not parquet at all");
  await assertRefuses(() => readDataset(dir), tokensRange, /not a readable Parquet file/);
  await Deno.writeFile(tokensRange, tokensBytes);

  // A runs range file holding runs outside the range its name gives.
  const moved = `${dir}/${LAYOUT.runsRangeFile(writer.sessionId, 5, 9)}`;
  await Deno.rename(runsRange, moved);
  await assertRefuses(() => readDataset(dir), moved, /it holds run 0, outside its range 5-9$/);
  await Deno.rename(moved, runsRange);
  const misnamed = `${writer.sessionDir}/runs/runs-000009-000001.parquet`;
  await Deno.writeFile(misnamed, runsBytes);
  await assertRefuses(
    () => readDataset(dir),
    misnamed,
    /expected a name run-<order>.parquet or runs-<first>-<last>.parquet with first <= last$/,
  );
  await Deno.remove(misnamed);
  assert.equal((await readDataset(dir)).runs.height, 2);
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

const SAMPLE = fileURLToPath(new URL("../../data/sample-trace", import.meta.url));

Deno.test("`readDataset()` upgrades a schema 2 session on read without touching its files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-v2-" });
  await new Deno.Command("cp", { args: ["-r", SAMPLE, `${dir}/ds`] }).output();
  const session = [...Deno.readDirSync(`${dir}/ds`)][0]!.name;
  const runsFile = `${dir}/ds/${session}/runs/runs-000000-000053.parquet`;
  const raw = pl.readParquet(runsFile);
  const rawSession = pl.readParquet(`${dir}/ds/${session}/session.parquet`);
  assert.equal(rawSession.getColumn("schema_version").get(0), 2);
  const before = await Deno.readFile(runsFile);
  const { sessions, runs, tokens } = await readDataset(`${dir}/ds`);
  assert.deepEqual(sessions.columns, names("sessions"));
  assert.deepEqual(runs.columns, names("runs"));
  const s = (sessions as pl.DataFrame).toRecords()[0]!;
  // The upgrade rule: version 2 sessions were traced in-process by llama.cpp.
  assert.equal(s.schema_version, 2);
  assert.equal(s.source, "in-process");
  assert.equal(s.endpoint_url, "");
  assert.equal(s.engine_name, "llama.cpp");
  assert.equal(s.engine_version, rawSession.getColumn("llama_cpp_release").get(0));
  // The counters keep their values under their new names.
  for (
    const [old, now] of [
      ["llama_prompt_eval_ms", "engine_prompt_ms"],
      ["llama_prompt_eval_tokens", "engine_prompt_tokens"],
      ["llama_eval_ms", "engine_decode_ms"],
      ["llama_eval_tokens", "engine_decode_tokens"],
    ]
  ) {
    assert.deepEqual(runs.getColumn(now!).toArray(), raw.getColumn(old!).toArray(), now);
  }
  assert.equal(runs.height, 54);
  assert.equal((await tokens.collect()).height, 1740);
  // Read-only: the files are the same bytes, and writing to the session is refused.
  assert.deepEqual(await Deno.readFile(runsFile), before);
  await assertRefuses(
    () => DatasetWriter.resume(`${dir}/ds/${session}`),
    `${dir}/ds/${session}/session.parquet`,
    /written with schema version 2 and is read-only \(upgraded on read\)/,
  );
  // A current session next to it reads in the same dataset.
  const writer = await DatasetWriter.create(`${dir}/ds`, INFO);
  await writer.writeRun(...fakeRun(0, 4));
  const both = await readDataset(`${dir}/ds`);
  assert.equal(both.sessions.height, 2);
  assert.equal(both.runs.height, 55);
  assert.equal((await both.tokens.collect()).height, 1744);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("`readDataset()` refuses a schema 1 session with one line naming the file", async () => {
  const { dir, writer } = await fakeDataset([3]);
  const file = `${dir}/${LAYOUT.sessionFile(writer.sessionId)}`;
  const row = { ...writer.session, schema_version: 1 };
  tableFrame(
    "sessions",
    Object.fromEntries(
      names("sessions").map((name) => [name, [(row as Record<string, unknown>)[name]]]),
    ),
  ).writeParquet(file);
  await assertRefuses(
    () => readDataset(dir),
    file,
    new RegExp(`schema_version is 1, this tokentrace reads ${SCHEMA_VERSION} \\(and upgrades 2`),
  );
  await Deno.remove(dir, { recursive: true });
});
