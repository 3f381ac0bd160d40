/**
 * `deno task bench`: tokentrace's performance table, measured side by side in one run.
 *
 * Rows (select with `--only a,b`):
 * - `parity`: tracer decode rate vs llama.cpp's own `llama-bench` tg128 on the same GGUF and
 *   thread count (built from the llama.cpp source inside node-llama-cpp, see `_llama_bench.ts`),
 *   interleaved repetitions, each in a fresh process. Mean rate over all tokens: stalls count.
 *   In the same repetitions, to place the gap: llama.cpp's own eval time inside the tracer's
 *   runs, the same decode loop in a C++ process with node-llama-cpp's threading
 *   (`_placement.ts` mode `same`), plain node-llama-cpp under Node.js (`_node_loop.mjs`) and,
 *   at 1 thread, the tracer unpinned.
 * - `overhead`: tracer vs a bare `sequence.evaluate()` loop and vs the same native loop without
 *   recording (`overhead_bench.ts`), per thread count.
 * - `roofline`: memory read bandwidth (`_bandwidth.ts`), weight bytes per token (GGUF reader),
 *   floor ms/token and the measured latency against it.
 * - `threads`: `probeThreads()` on the bench model: the recommended thread count.
 * - `dataset`: Parquet write rate of token rows (`DatasetWriter.writeRuns` in batches), the
 *   per-run `writeRun` path and its compaction (informative), then reading the batch-written
 *   dataset and running the slowdown fit and the variance decomposition (time, peak RSS).
 * - `synth`: synthetic model generation (lfm2-350m q8_0) in MB/s.
 * - `endpoint`: the bench model in-process vs through llama-server on 127.0.0.1 (same GGUF and
 *   threads, interleaved): HTTP overhead per token (`_endpoint.ts`).
 *
 * Usage: `deno task bench [--quick] [--only parity,overhead] [--model m.gguf] [--threads 1,2]
 *   [--reps 5] [--rows 10000000] [--write | --no-write]`
 *
 * Progress goes to stderr, the table to stdout, raw numbers to `.cache/bench/` (git-ignored):
 * `bench-<UTC time>.json` and `latest.json`. A full run rewrites the measured sections of
 * `BENCHMARKS.md` (a `--quick` run only with `--write`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import os from "node:os";
import type pl from "nodejs-polars";
import { fileURLToPath } from "node:url";
import { ensureLlamaBench, type LlamaBenchBuild, runLlamaBench } from "./_llama_bench.ts";
import { buildPlacementHarness, placementRate, runPlacement } from "./_placement.ts";
import { type Bandwidth, measureBandwidth } from "./_bandwidth.ts";
import { endpointSection, rowEndpoint } from "./_endpoint.ts";
import {
  decodeRate,
  fmtCi,
  fmtSpread,
  median,
  peakRssMb,
  quantile,
  type RatioCi,
  ratioCi,
  shuffled,
  type Spread,
  spread,
} from "./_stats.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OUT_DIR = `${ROOT}.cache/bench`;
const ALL_ROWS = [
  "parity",
  "overhead",
  "roofline",
  "threads",
  "dataset",
  "synth",
  "endpoint",
] as const;
type RowName = (typeof ALL_ROWS)[number];
const DEFAULT_MODEL = "data/models/lfm2-350m-q8_0.gguf";
const PROMPT = "The history of computing";

const log = (line: string): void => console.error(`[bench] ${line}`);

// ---------------------------------------------------------------------------------------------
// Children: each measurement that loads a model or must own its peak RSS runs in a fresh
// process, `run.ts --child <kind> <json>`, which prints one `@@result <json>` line.

interface TracerChildArgs {
  model: string;
  threads: number;
  tokens: number;
  runs: number;
  settle: boolean;
  /** `TraceOptions.cpuAffinity`. @default "auto" */
  cpuAffinity?: "auto" | "off";
}

/** One traced run as the parity row keeps it. */
interface TracedRun {
  tokensPerS: number;
  medianTokenMs: number;
  p95TokenMs: number;
  maxTokenMs: number;
  decodeMs: number;
  llamaEvalMs: number;
  /** Decode steps llama.cpp counted (output tokens - 1). */
  llamaEvalTokens: number;
  /** Deno blocking-pool threads before and after settling (see lib/runtime/pool.ts). */
  poolBefore?: number | undefined;
  poolAfter?: number | undefined;
  /** The run's `cpu_affinity` (empty: not pinned). */
  cpuAffinity?: string;
}

async function childTracer(a: TracerChildArgs): Promise<TracedRun[]> {
  const { openSession } = await import("../../lib/tracer/tracer.ts");
  const session = await openSession(a.model, { threads: a.threads, gpu: "cpu", contextSize: 1024 });
  try {
    // A full-length warm-up run, as tokentrace's suites record one and leave it out of the
    // figures (which also settles the pool itself unless --no-settle). A 16-token warm-up left
    // llama.cpp's own eval time of the next run a few % slower in a fresh process.
    await session.trace(PROMPT, {
      mode: "raw",
      maxTokens: a.tokens,
      settleThreadPool: a.settle,
      cpuAffinity: a.cpuAffinity ?? "auto",
    });
    const { settleBlockingPool } = await import("../../lib/runtime/pool.ts");
    const pool = a.settle && a.threads > 1 ? await settleBlockingPool() : undefined;
    const out: TracedRun[] = [];
    for (let i = 0; i < a.runs; i++) {
      const { summary, tokens } = await session.trace(PROMPT, {
        mode: "raw",
        maxTokens: a.tokens,
        settleThreadPool: a.settle,
        cpuAffinity: a.cpuAffinity ?? "auto",
      });
      const dec = Array.from(tokens.latency_ms).slice(1);
      out.push({
        tokensPerS: decodeRate(tokens.latency_ms),
        medianTokenMs: median(dec),
        p95TokenMs: quantile(dec, 0.95),
        maxTokenMs: Math.max(...dec),
        decodeMs: summary.decode_ms,
        llamaEvalMs: summary.engine_decode_ms!,
        llamaEvalTokens: summary.engine_decode_tokens!,
        poolBefore: pool?.before,
        poolAfter: pool?.after,
        cpuAffinity: summary.cpu_affinity,
      });
    }
    return out;
  } finally {
    await session.close();
  }
}

interface DatasetChildArgs {
  dir: string;
  rows: number;
  runTokens: number;
  /** Token rows per `writeRuns()` call. */
  batchRows: number;
  /** Runs written one by one with `writeRun()` (then compacted), into a separate dataset. */
  perRunRuns: number;
}

interface DatasetWriteResult {
  rows: number;
  runs: number;
  simulateS: number;
  /** `writeRuns()` batches plus `create()` and `finish()`. */
  writeS: number;
  rowsPerS: number;
  batchRows: number;
  batches: number;
  bytes: number;
  /** The per-run path: `writeRun()` of `perRunRuns` runs, then `finish()` compacting them. */
  perRunRuns: number;
  perRunRows: number;
  perRunS: number;
  perRunMs: number;
  perRunRowsPerS: number;
  compactS: number;
  compactRowsPerS: number;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) total += await dirBytes(p);
    else if (e.isFile) total += (await Deno.stat(p)).size;
  }
  return total;
}

async function childDatasetWrite(a: DatasetChildArgs): Promise<DatasetWriteResult> {
  const { simulateTrace } = await import("../../lib/simulate/simulate.ts");
  const { DatasetWriter } = await import("../../lib/dataset/writer.ts");
  type RunRecord = import("../../lib/dataset/writer.ts").RunRecord;
  const depths = [0, 512, 1024, 2048, 4096];
  const prompts = ["simple", "complex"].flatMap((cls) =>
    [24, 40].map((promptTokens) => ({
      id: `${cls}-${promptTokens}`,
      class: cls,
      promptTokens,
      maxTokens: a.runTokens,
    }))
  );
  const repetitions = Math.max(
    1,
    Math.round(a.rows / (a.runTokens * prompts.length * depths.length)),
  );
  const t0 = performance.now();
  const trace = simulateTrace({ prompts, depths, repetitions, seed: 1 });
  const session = trace.sessions.toRecords()[0] as Record<string, unknown>;
  const runs = (trace.runs.toRecords() as Record<string, unknown>[]).map((run) => {
    const { session_id: _s, run_id: _r, ...record } = run;
    return record as unknown as RunRecord;
  });
  const simulateS = (performance.now() - t0) / 1000;
  // Token columns of rows [offset, offset + n), extracted from the frame per batch (never the
  // whole 10M-row columns as JS arrays); extraction is outside the timed writes.
  const columns = (offset: number, n: number) => {
    const part = (trace.tokens as unknown as pl.DataFrame).slice(offset, n);
    const get = (name: string): unknown[] => part.getColumn(name).toArray() as unknown[];
    return {
      token_index: Int32Array.from(get("token_index") as number[]),
      position: Int32Array.from(get("position") as number[]),
      phase: get("phase") as string[],
      token_id: Int32Array.from(get("token_id") as number[]),
      piece: get("piece") as string[],
      piece_bytes: Int32Array.from(get("piece_bytes") as number[]),
      t_ms: Float64Array.from(get("t_ms") as number[]),
      latency_ms: Float64Array.from(get("latency_ms") as number[]),
      chunk_tokens: Int32Array.from(get("chunk_tokens") as number[]),
    };
  };
  // deno-lint-ignore no-explicit-any
  const info = session as any;

  // The target: many runs per call, `writeRuns()` in batches of ~batchRows token rows.
  await Deno.remove(a.dir, { recursive: true }).catch(() => {});
  let writeMs = 0;
  let t1 = performance.now();
  const writer = await DatasetWriter.create(a.dir, info, { suite: "bench" });
  writeMs += performance.now() - t1;
  let offset = 0;
  let batches = 0;
  for (let r = 0; r < runs.length;) {
    const batch: RunRecord[] = [];
    let n = 0;
    while (r < runs.length && (n === 0 || n + runs[r]!.output_tokens <= a.batchRows)) {
      n += runs[r]!.output_tokens;
      batch.push(runs[r++]!);
    }
    const cols = columns(offset, n);
    t1 = performance.now();
    await writer.writeRuns(batch, cols);
    writeMs += performance.now() - t1;
    offset += n;
    batches++;
  }
  t1 = performance.now();
  await writer.finish("complete");
  writeMs += performance.now() - t1;
  const writeS = writeMs / 1000;
  const bytes = await dirBytes(a.dir);

  // The tracer's path: one tokens file and one runs file per run, then `finish()` compacting
  // them into one range file pair; a separate dataset, left out of the read below.
  const perRunDir = `${a.dir}-per-run`;
  await Deno.remove(perRunDir, { recursive: true }).catch(() => {});
  const perRun = await DatasetWriter.create(perRunDir, info, { suite: "bench" });
  const perRunRuns = Math.min(a.perRunRuns, runs.length);
  let perRunMs = 0;
  let perRunRows = 0;
  for (const run of runs.slice(0, perRunRuns)) {
    const n = run.output_tokens;
    const cols = columns(perRunRows, n);
    t1 = performance.now();
    await perRun.writeRun(run, cols);
    perRunMs += performance.now() - t1;
    perRunRows += n;
  }
  t1 = performance.now();
  await perRun.finish("complete");
  const compactS = (performance.now() - t1) / 1000;
  await Deno.remove(perRunDir, { recursive: true }).catch(() => {});
  return {
    rows: offset,
    runs: runs.length,
    simulateS,
    writeS,
    rowsPerS: offset / writeS,
    batchRows: a.batchRows,
    batches,
    bytes,
    perRunRuns,
    perRunRows,
    perRunS: perRunMs / 1000,
    perRunMs: perRunMs / perRunRuns,
    perRunRowsPerS: perRunRows / (perRunMs / 1000),
    compactS,
    compactRowsPerS: perRunRows / compactS,
  };
}

interface DatasetReadResult {
  readS: number;
  prepareS: number;
  slowdownS: number;
  varianceS: number;
  totalS: number;
  peakRssMb: number;
  tokenRows: number;
}

async function childDatasetRead(a: { dir: string }): Promise<DatasetReadResult> {
  const { readDataset } = await import("../../lib/dataset/read.ts");
  const { prepareTrace } = await import("../../lib/analysis/prepare.ts");
  const { fitSlowdown } = await import("../../lib/analysis/slowdown.ts");
  const { decomposeVariance } = await import("../../lib/analysis/variance.ts");
  const t0 = performance.now();
  const ds = await readDataset(a.dir);
  const t1 = performance.now();
  const prepared = prepareTrace(ds);
  const t2 = performance.now();
  fitSlowdown(prepared);
  const t3 = performance.now();
  decomposeVariance(prepared);
  const t4 = performance.now();
  return {
    readS: (t1 - t0) / 1000,
    prepareS: (t2 - t1) / 1000,
    slowdownS: (t3 - t2) / 1000,
    varianceS: (t4 - t3) / 1000,
    totalS: (t4 - t0) / 1000,
    peakRssMb: peakRssMb(),
    tokenRows: prepared.tokens.count,
  };
}

interface SynthResult {
  seconds: number;
  bytes: number;
  mbPerS: number;
  peakRssMb: number;
}

async function childSynth(a: { out: string }): Promise<SynthResult> {
  const { writeSyntheticModel } = await import("../../lib/synth/synth.ts");
  const r = await writeSyntheticModel(a.out, { preset: "lfm2-350m", dtype: "q8_0" });
  await Deno.remove(a.out).catch(() => {});
  return {
    seconds: r.seconds,
    bytes: r.bytes,
    mbPerS: r.bytes / 1e6 / r.seconds,
    peakRssMb: peakRssMb(),
  };
}

async function childOverhead(a: { model: string; threads: number; tokens: number; pairs: number }) {
  const { overheadBench } = await import("./overhead_bench.ts");
  return await overheadBench(a);
}

async function childThreads(
  a: { model: string; candidates: number[]; tokens: number; rounds: number },
) {
  const { openSession } = await import("../../lib/tracer/tracer.ts");
  const { probeThreads } = await import("../../lib/experiment/probe.ts");
  const session = await openSession(a.model, { gpu: "cpu", contextSize: 1024, threads: 1 });
  try {
    return await probeThreads(session, {
      candidates: a.candidates,
      tokens: a.tokens,
      rounds: a.rounds,
      prompt: PROMPT,
    });
  } finally {
    await session.close();
  }
}

const CHILDREN: Record<string, (a: never) => Promise<unknown>> = {
  tracer: childTracer,
  "dataset-write": childDatasetWrite,
  "dataset-read": childDatasetRead,
  synth: childSynth,
  overhead: childOverhead,
  threads: childThreads,
};

async function runChild<T>(kind: string, args: unknown): Promise<T> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      // the dataset writer's child holds a 10M-row simulated trace
      ...(kind === "dataset-write" ? ["--v8-flags=--max-old-space-size=8192"] : []),
      fileURLToPath(import.meta.url),
      "--child",
      kind,
      JSON.stringify(args),
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  });
  const out = await cmd.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("@@result "));
  if (!out.success || line === undefined) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-8).join("\n");
    throw new Error(`Cannot run bench child "${kind}": exit ${out.code}\n${err}`);
  }
  return JSON.parse(line.slice("@@result ".length)) as T;
}

// ---------------------------------------------------------------------------------------------
// Rows

interface Options {
  quick: boolean;
  settle: boolean;
  model: string;
  threads: number[];
  reps: number;
  rows: number;
  runTokens: number;
}

interface ParityResult {
  llamaBench: { variant: string; commit: string; cmakeArgs: string[] } | { skipped: string };
  /** `node --version` of the "node-llama-cpp in Node" contender, or why it was skipped. */
  node: { version: string } | { skipped: string };
  byThreads: {
    threads: number;
    llamaBenchTokensPerS: number[];
    tracer: TracedRun[];
    llamaBench: Spread;
    tracerRate: Spread;
    ratio: number;
    pairRatios: Spread;
    /** Geometric mean of the pair ratios with a 95% t interval on their logs. */
    pairCi: RatioCi;
    /** llama.cpp's own decode rate inside tokentrace's runs (eval tokens / eval time). */
    evalRate: Spread;
    /** Pair ratios of that rate to llama-bench's: llama.cpp's compute, outside tokentrace. */
    evalPairRatios: Spread;
    evalCi: RatioCi;
    /** Host time per decode token in tokentrace's runs, ms: (decode - eval) / eval tokens. */
    hostMsPerToken: Spread;
    /** Host time as a share of decode time. */
    hostShare: Spread;
    /** Plain node-llama-cpp under Node.js (`_node_loop.mjs`), same reps. */
    node: NodeRun[];
    nodeRate: Spread;
    /** Node loop / llama-bench, per repetition. */
    nodePairRatios: Spread;
    nodeCi: RatioCi;
    /** llama.cpp's eval-only rate inside the Node loop / llama-bench, per repetition. */
    nodeEvalPairRatios: Spread;
    nodeHostMsPerToken: Spread;
    /** tokentrace / Node loop, per repetition: what Deno and tokentrace add or save. */
    tracerOverNode: Spread;
    tracerOverNodeCi: RatioCi;
    /**
     * llama.cpp's decode in a C++ process with node-llama-cpp's threading (`_placement.ts`
     * mode `same`: one fixed calling thread, no persistent threadpool), same reps, t/s.
     */
    cppTokensPerS: number[];
    cppRate: Spread;
    /** C++ loop / llama-bench, per repetition: what node-llama-cpp's threading costs. */
    cppCi: RatioCi;
    /** llama.cpp's eval-only rate in tokentrace / the C++ loop: what the JS host process costs. */
    evalOverCppCi: RatioCi;
    /** tokentrace with `cpuAffinity: "off"` (only where "auto" pins: one thread, > 1 CPU). */
    unpinned: TracedRun[];
    unpinnedRate: Spread;
    unpinnedPairRatios: Spread;
    /** tokentrace (pinned) / tokentrace unpinned, per repetition. */
    pinnedOverUnpinned: Spread;
    pinnedOverUnpinnedCi: RatioCi;
    unpinnedCi: RatioCi;
  }[];
}

/** One run of plain node-llama-cpp under Node.js, as `_node_loop.mjs` reports it. */
interface NodeRun {
  tokensPerS: number;
  decodeMs: number;
  llamaEvalMs: number;
  llamaEvalTokens: number;
  medianTokenMs: number;
  maxTokenMs: number;
}

const NODE_LOOP = fileURLToPath(new URL("./_node_loop.mjs", import.meta.url));

/** `node --version`, or why Node.js cannot run. */
async function nodeVersion(): Promise<{ version: string } | { skipped: string }> {
  try {
    const out = await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output();
    if (!out.success) return { skipped: `node --version exited ${out.code}` };
    return { version: new TextDecoder().decode(out.stdout).trim() };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { skipped: "node is not on PATH" };
    throw error;
  }
}

async function runNodeLoop(model: string, threads: number, tokens: number): Promise<NodeRun> {
  const out = await new Deno.Command("node", {
    args: [NODE_LOOP, model, String(threads), String(tokens)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success || !line.startsWith("{")) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`Cannot run ${NODE_LOOP}: exit ${out.code}\n${err}`);
  }
  const r = JSON.parse(line) as Omit<NodeRun, "medianTokenMs" | "maxTokenMs"> & {
    latenciesMs: number[];
  };
  const dec = r.latenciesMs.slice(1);
  return {
    tokensPerS: r.tokensPerS,
    decodeMs: r.decodeMs,
    llamaEvalMs: r.llamaEvalMs,
    llamaEvalTokens: r.llamaEvalTokens,
    medianTokenMs: median(dec),
    maxTokenMs: Math.max(...dec),
  };
}

/** Ratios a[i] / b[i] of two per-repetition lists (finite ones). */
const ratios = (a: readonly number[], b: readonly number[]): number[] =>
  a.map((x, i) => x / b[i]!).filter(Number.isFinite);
const pairs = (a: readonly number[], b: readonly number[]): Spread => spread(ratios(a, b));
const pairsCi = (a: readonly number[], b: readonly number[]): RatioCi => ratioCi(ratios(a, b));

async function rowParity(o: Options): Promise<ParityResult> {
  const build: LlamaBenchBuild = await ensureLlamaBench({ log });
  if (!build.ok) log(`parity: llama-bench unavailable (${build.reason}); skipping its side`);
  const node = await nodeVersion();
  if ("skipped" in node) log(`parity: ${node.skipped}; skipping the Node.js loop`);
  const cppBin = build.ok
    ? await buildPlacementHarness(log).catch((e: Error) => {
      log(`parity: ${e.message.split("\n")[0]}; skipping the C++ loop`);
      return undefined;
    })
    : undefined;
  const cpp = new Map<number, number[]>(o.threads.map((t) => [t, []]));
  // "auto" pins one-thread runs where there is more than one CPU: then also measure unpinned.
  const { allowedCpus } = await import("../../lib/runtime/affinity.ts");
  const pinnable = (allowedCpus()?.length ?? 0) > 1;
  const lb = new Map<number, number[]>(o.threads.map((t) => [t, []]));
  const tr = new Map<number, TracedRun[]>(o.threads.map((t) => [t, []]));
  const un = new Map<number, TracedRun[]>(o.threads.map((t) => [t, []]));
  const nd = new Map<number, NodeRun[]>(o.threads.map((t) => [t, []]));
  const traced = async (t: number, cpuAffinity: "auto" | "off"): Promise<TracedRun> => {
    const [run] = await runChild<TracedRun[]>("tracer", {
      model: o.model,
      threads: t,
      tokens: 128,
      runs: 1,
      settle: o.settle,
      cpuAffinity,
    });
    return run!;
  };
  const describe = (r: { tokensPerS: number; medianTokenMs: number; maxTokenMs: number }) =>
    `${r.tokensPerS.toFixed(2)} t/s (median token ${r.medianTokenMs.toFixed(1)} ms, max ${
      r.maxTokenMs.toFixed(0)
    } ms)`;
  for (let rep = 0; rep < o.reps; rep++) {
    const jobs = o.threads.flatMap((t) => [
      ...(build.ok ? [{ kind: "llama-bench" as const, t }] : []),
      { kind: "tracer" as const, t },
      ...("version" in node ? [{ kind: "node" as const, t }] : []),
      ...(cppBin !== undefined ? [{ kind: "cpp" as const, t }] : []),
      ...(t === 1 && pinnable ? [{ kind: "unpinned" as const, t }] : []),
    ]);
    for (const job of shuffled(jobs, rep + 1)) {
      if (job.kind === "llama-bench" && build.ok) {
        const r = await runLlamaBench(build.path, o.model, { threads: job.t, reps: 1 });
        lb.get(job.t)!.push(r.avgTokensPerS);
        log(`parity rep ${rep}: llama-bench t=${job.t} ${r.avgTokensPerS.toFixed(2)} t/s`);
      } else if (job.kind === "cpp" && cppBin !== undefined) {
        const [lat] = await runPlacement(cppBin, o.model, job.t, 128, "same", 1);
        const rate = placementRate(lat!);
        cpp.get(job.t)!.push(rate);
        log(`parity rep ${rep}: C++ loop    t=${job.t} ${rate.toFixed(2)} t/s`);
      } else if (job.kind === "node") {
        const r = await runNodeLoop(o.model, job.t, 128);
        nd.get(job.t)!.push(r);
        log(`parity rep ${rep}: node loop   t=${job.t} ${describe(r)}`);
      } else {
        const pinned = job.kind === "tracer";
        const r = await traced(job.t, pinned ? "auto" : "off");
        (pinned ? tr : un).get(job.t)!.push(r);
        log(
          `parity rep ${rep}: tracer${pinned ? "     " : " off "} t=${job.t} ${describe(r)}${
            r.cpuAffinity ? ` pinned to CPU ${r.cpuAffinity}` : ""
          }`,
        );
      }
    }
  }
  return {
    llamaBench: build.ok
      ? { variant: build.variant, commit: build.commit, cmakeArgs: build.cmakeArgs }
      : { skipped: build.reason },
    node,
    byThreads: o.threads.map((t) => {
      const l = lb.get(t)!;
      const runs = tr.get(t)!;
      const rates = runs.map((r) => r.tokensPerS);
      const evalRates = runs.map((r) => r.llamaEvalTokens / (r.llamaEvalMs / 1000));
      const nodeRuns = nd.get(t)!;
      const nodeRates = nodeRuns.map((r) => r.tokensPerS);
      const unpinned = un.get(t)!;
      const unpinnedRates = unpinned.map((r) => r.tokensPerS);
      const cppRates = cpp.get(t)!;
      return {
        threads: t,
        llamaBenchTokensPerS: l,
        tracer: runs,
        llamaBench: spread(l),
        tracerRate: spread(rates),
        ratio: median(rates) / median(l),
        pairRatios: pairs(rates, l),
        pairCi: pairsCi(rates, l),
        evalRate: spread(evalRates),
        evalPairRatios: pairs(evalRates, l),
        evalCi: pairsCi(evalRates, l),
        hostMsPerToken: spread(runs.map((r) => (r.decodeMs - r.llamaEvalMs) / r.llamaEvalTokens)),
        hostShare: spread(runs.map((r) => (r.decodeMs - r.llamaEvalMs) / r.decodeMs)),
        node: nodeRuns,
        nodeRate: spread(nodeRates),
        nodePairRatios: pairs(nodeRates, l),
        nodeCi: pairsCi(nodeRates, l),
        nodeEvalPairRatios: pairs(
          nodeRuns.map((r) => r.llamaEvalTokens / (r.llamaEvalMs / 1000)),
          l,
        ),
        nodeHostMsPerToken: spread(
          nodeRuns.map((r) => (r.decodeMs - r.llamaEvalMs) / r.llamaEvalTokens),
        ),
        tracerOverNode: pairs(rates, nodeRates),
        tracerOverNodeCi: pairsCi(rates, nodeRates),
        cppTokensPerS: cppRates,
        cppRate: spread(cppRates),
        cppCi: pairsCi(cppRates, l),
        evalOverCppCi: pairsCi(evalRates, cppRates),
        unpinned,
        unpinnedRate: spread(unpinnedRates),
        unpinnedPairRatios: pairs(unpinnedRates, l),
        pinnedOverUnpinned: pairs(rates, unpinnedRates),
        pinnedOverUnpinnedCi: pairsCi(rates, unpinnedRates),
        unpinnedCi: pairsCi(unpinnedRates, l),
      };
    }),
  };
}

interface OverheadRowResult {
  threads: number;
  bareMedian: number;
  tracerMedian: number;
  ratioMedian: number;
  ratioRange: [number, number];
  nativeMedian: number;
  ratioNativeMedian: number;
  ratioNativeRange: [number, number];
  pairs: number;
  /** Every measured run (raw numbers, with the pool's thread count before each). */
  runs: unknown[];
}

async function rowOverhead(o: Options): Promise<OverheadRowResult[]> {
  const out: OverheadRowResult[] = [];
  for (const t of o.threads) {
    const pairs = o.quick ? 3 : 10;
    log(`overhead: ${pairs} interleaved rounds at ${t} thread(s)`);
    const r = await runChild<OverheadRowResult>("overhead", {
      model: o.model,
      threads: t,
      tokens: 128,
      pairs,
    });
    out.push({
      threads: t,
      bareMedian: r.bareMedian,
      tracerMedian: r.tracerMedian,
      ratioMedian: r.ratioMedian,
      ratioRange: r.ratioRange,
      nativeMedian: r.nativeMedian,
      ratioNativeMedian: r.ratioNativeMedian,
      ratioNativeRange: r.ratioNativeRange,
      pairs,
      runs: r.runs,
    });
    log(
      `overhead t=${t}: tracer/evaluate() ${r.ratioMedian.toFixed(4)}, tracer/native ${
        r.ratioNativeMedian.toFixed(4)
      }`,
    );
  }
  return out;
}

interface RooflineResult {
  bandwidth: Bandwidth[];
  weightBytesPerToken: number;
  tensorBytes: number;
  tiedEmbeddings: boolean;
  byThreads: {
    threads: number;
    bandwidthGbPerS: number;
    floorMs: number;
    measuredMs: number;
    measuredOverFloor: number;
  }[];
}

/** Bytes of weights one decode step reads: every tensor, except the embedding table when the
 * model has a separate output matrix (then a step reads one embedding row only). */
export function weightBytesPerToken(
  tensors: readonly { name: string; byteSize: number }[],
): { bytes: number; tied: boolean } {
  const total = tensors.reduce((a, t) => a + t.byteSize, 0);
  const embd = tensors.find((t) => t.name === "token_embd.weight");
  const tied = !tensors.some((t) => t.name === "output.weight");
  return { bytes: tied || embd === undefined ? total : total - embd.byteSize, tied };
}

async function rowRoofline(o: Options, parity: ParityResult | undefined): Promise<RooflineResult> {
  const { readGguf } = await import("../../lib/gguf/reader.ts");
  const info = await readGguf(o.model);
  const { bytes, tied } = weightBytesPerToken(info.tensors);
  const bandwidth: Bandwidth[] = [];
  for (const t of [...new Set([1, ...o.threads])]) {
    log(`roofline: read bandwidth with ${t} thread(s)`);
    bandwidth.push(await measureBandwidth({ threads: t, passes: o.quick ? 3 : 7 }));
  }
  const byThreads = [];
  for (const t of o.threads) {
    let measured = parity?.byThreads.find((p) => p.threads === t)?.tracer.map((r) =>
      r.medianTokenMs
    );
    if (measured === undefined || measured.length === 0) {
      const runs = await runChild<TracedRun[]>("tracer", {
        model: o.model,
        threads: t,
        tokens: 64,
        runs: 2,
        settle: o.settle,
      });
      measured = runs.map((r) => r.medianTokenMs);
    }
    const bw = bandwidth.find((b) => b.threads === t) ?? bandwidth[0]!;
    const floorMs = bytes / (bw.maxGbPerS * 1e9) * 1000;
    const m = median(measured);
    byThreads.push({
      threads: t,
      bandwidthGbPerS: bw.maxGbPerS,
      floorMs,
      measuredMs: m,
      measuredOverFloor: m / floorMs,
    });
  }
  return {
    bandwidth,
    weightBytesPerToken: bytes,
    tensorBytes: info.tensorBytes,
    tiedEmbeddings: tied,
    byThreads,
  };
}

interface DatasetResult {
  write: DatasetWriteResult;
  read: DatasetReadResult;
}

/** Token rows per `writeRuns()` call in the dataset row. */
const DATASET_BATCH_ROWS = 1_000_000;
/** Runs the dataset row writes one by one (`writeRun()`, then compaction): 1M rows of 250-token runs. */
const DATASET_PER_RUN_RUNS = 4_000;

async function rowDataset(o: Options): Promise<DatasetResult> {
  const dir = `${OUT_DIR}/dataset`;
  log(`dataset: simulating and writing ${o.rows.toLocaleString("en-US")} token rows`);
  const write = await runChild<DatasetWriteResult>("dataset-write", {
    dir,
    rows: o.rows,
    runTokens: o.runTokens,
    batchRows: DATASET_BATCH_ROWS,
    perRunRuns: DATASET_PER_RUN_RUNS,
  });
  log(
    `dataset: wrote ${write.rows} rows in ${write.runs} runs with writeRuns: ${
      write.writeS.toFixed(1)
    } s (${(write.rowsPerS / 1e6).toFixed(2)} M rows/s)`,
  );
  log(
    `dataset: writeRun ${write.perRunMs.toFixed(2)} ms per run (${
      (write.perRunRowsPerS / 1e6).toFixed(3)
    } M rows/s); compaction of ${write.perRunRuns} runs ${write.compactS.toFixed(2)} s (${
      (write.compactRowsPerS / 1e6).toFixed(2)
    } M rows/s)`,
  );
  const read = await runChild<DatasetReadResult>("dataset-read", { dir });
  log(
    `dataset: read + fit + decomposition ${read.totalS.toFixed(1)} s, peak RSS ${
      read.peakRssMb.toFixed(0)
    } MB`,
  );
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return { write, read };
}

async function rowSynth(o: Options): Promise<SynthResult[]> {
  const out: SynthResult[] = [];
  for (let i = 0; i < (o.quick ? 1 : 3); i++) {
    const r = await runChild<SynthResult>("synth", { out: `${OUT_DIR}/synth-lfm2-350m-q8_0.gguf` });
    log(`synth: ${r.mbPerS.toFixed(1)} MB/s (${r.seconds.toFixed(2)} s)`);
    out.push(r);
  }
  return out;
}

async function rowThreads(o: Options) {
  const candidates = Array.from({ length: navigator.hardwareConcurrency }, (_, i) => i + 1);
  log(`threads: probing ${candidates.join(", ")}`);
  return await runChild<
    {
      best: number;
      rows: {
        threads: number;
        medianTokensPerS: number;
        samplesTokensPerS: number[];
        maxTokenMs: number;
      }[];
    }
  >(
    "threads",
    { model: o.model, candidates, tokens: 32, rounds: o.quick ? 2 : 3 },
  );
}

// ---------------------------------------------------------------------------------------------
// Machine, report and BENCHMARKS.md

async function machine(): Promise<Record<string, string | number>> {
  const cpus = os.cpus();
  let commit = "";
  try {
    const out = await new Deno.Command("git", {
      args: [
        "bundle",
        "list-heads",
        `${ROOT}node_modules/.deno/node-llama-cpp@3.21.1/node_modules/node-llama-cpp/llama/gitRelease.bundle`,
      ],
      stdout: "piped",
    }).output();
    commit = new TextDecoder().decode(out.stdout).trim().split(/\s+/)[0] ?? "";
  } catch { /* no git */ }
  return {
    cpu: cpus[0]?.model.trim() ?? "",
    logicalCores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    deno: Deno.version.deno,
    nodeLlamaCpp: "3.21.1",
    llamaCppCommit: commit,
    loadAverage1m: os.loadavg()[0]!,
  };
}

function f(x: number, d = 2): string {
  return Number.isFinite(x) ? x.toFixed(d) : "n/a";
}

type Results = Partial<Record<RowName, unknown>> & { errors: Record<string, string> };

function sections(r: Results, o: Options): Map<RowName, string> {
  const s = new Map<RowName, string>();
  const parity = r.parity as ParityResult | undefined;
  if (parity) {
    const lines = [
      "| threads | llama-bench tg128 t/s | tokentrace t/s | tokentrace / llama-bench per repetition: geometric mean [95% CI] (target ≥ 0.95) | same, median (range) | ratio of medians | tokentrace median / max token ms |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      ...parity.byThreads.map((p) =>
        `| ${p.threads} | ${fmtSpread(p.llamaBench)} | ${fmtSpread(p.tracerRate)} | **${
          fmtCi(p.pairCi)
        }** | ${fmtSpread(p.pairRatios, 3)} | ${f(p.ratio, 3)} | ${
          f(median(p.tracer.map((t) => t.medianTokenMs)), 1)
        } / ${f(Math.max(...p.tracer.map((t) => t.maxTokenMs)), 0)} |`
      ),
      "",
      "Where the gap is, per tokentrace run (llama.cpp's own counters against wall time): the host's " +
      "share (tokentrace's loop, node-llama-cpp's two N-API thread hops and sampling per token) and " +
      "llama.cpp's compute (its `llama_decode` time inside tokentrace's runs, as a rate, against " +
      "llama-bench's rate in the same repetition).",
      "",
      "| threads | host ms per token | host share of decode time | llama.cpp eval-only t/s in tokentrace | eval-only / llama-bench: geometric mean [95% CI] | median (range) |",
      "| --- | --- | --- | --- | --- | --- |",
      ...parity.byThreads.map((p) =>
        `| ${p.threads} | ${fmtSpread(p.hostMsPerToken, 2)} | ${
          fmtSpread(
            {
              ...p.hostShare,
              median: 100 * p.hostShare.median,
              min: 100 * p.hostShare.min,
              max: 100 * p.hostShare.max,
            },
            1,
          )
        } % | ${fmtSpread(p.evalRate)} | ${fmtCi(p.evalCi)} | ${fmtSpread(p.evalPairRatios, 3)} |`
      ),
      "",
      ...(parity.byThreads.every((p) => p.cppTokensPerS.length === 0) ? [] : [
        "llama.cpp's compute split in two, in the same repetitions: the same decode loop in a C++ " +
        "process on llama.cpp with node-llama-cpp's threading (`tests/bench/_placement.ts` mode " +
        "`same`: `llama_decode` from one fixed thread, no persistent threadpool, so ggml starts " +
        "its helper compute threads per token) against llama-bench (persistent threadpool), and " +
        "llama.cpp's eval-only rate inside tokentrace's process against that C++ loop (what " +
        "hosting the same threading in a JS runtime, behind N-API async calls, costs).",
        "",
        "| threads | C++ loop t/s | C++ loop / llama-bench: geometric mean [95% CI] | tokentrace eval-only / C++ loop: geometric mean [95% CI] |",
        "| --- | --- | --- | --- |",
        ...parity.byThreads.map((p) =>
          `| ${p.threads} | ${fmtSpread(p.cppRate)} | ${fmtCi(p.cppCi)} | ${
            fmtCi(p.evalOverCppCi)
          } |`
        ),
        "",
      ]),
      ...("skipped" in parity.node ? [`Node.js loop skipped: ${parity.node.skipped}.`, ""] : [
        "The same decode without tokentrace and without Deno: plain node-llama-cpp under Node.js " +
        `${parity.node.version}, driving the same native calls (\`tests/bench/_node_loop.mjs\`: ` +
        "batch, `decodeBatch()`, `sampleToken()`; greedy; full-length warm-up), in the same " +
        "repetitions. Where it trails llama-bench as far as tokentrace does, the gap comes with " +
        "node-llama-cpp's native binding, not with tokentrace or Deno.",
        "",
        "| threads | Node loop t/s | Node loop / llama-bench: geometric mean [95% CI] | its eval-only / llama-bench, median (range) | its host ms per token | tokentrace / Node loop: geometric mean [95% CI] |",
        "| --- | --- | --- | --- | --- | --- |",
        ...parity.byThreads.map((p) =>
          `| ${p.threads} | ${fmtSpread(p.nodeRate)} | ${fmtCi(p.nodeCi)} | ${
            fmtSpread(p.nodeEvalPairRatios, 3)
          } | ${fmtSpread(p.nodeHostMsPerToken, 2)} | ${fmtCi(p.tracerOverNodeCi)} |`
        ),
        "",
      ]),
      ...(parity.byThreads.some((p) => p.unpinned.length > 0)
        ? [
          "CPU affinity: tokentrace pins a one-thread run's process to one CPU (`cpuAffinity: " +
          '"auto"`, the default, used above); here the same runs with `cpuAffinity: "off"`.',
          "",
          "| threads | tokentrace unpinned t/s | unpinned / llama-bench: geometric mean [95% CI] | pinned / unpinned: geometric mean [95% CI] | median (range) |",
          "| --- | --- | --- | --- | --- |",
          ...parity.byThreads.filter((p) => p.unpinned.length > 0).map((p) =>
            `| ${p.threads} | ${fmtSpread(p.unpinnedRate)} | ${fmtCi(p.unpinnedCi)} | ${
              fmtCi(p.pinnedOverUnpinnedCi)
            } | ${fmtSpread(p.pinnedOverUnpinned, 3)} |`
          ),
          "",
        ]
        : []),
      "llama-bench" in parity && "skipped" in parity.llamaBench
        ? `llama-bench skipped: ${parity.llamaBench.skipped}.`
        : `llama-bench: ${(parity.llamaBench as { commit: string }).commit.slice(0, 12)}, ${
          (parity.llamaBench as { cmakeArgs: string[] }).cmakeArgs.join(" ")
        }; \`-p 0 -n 128 -r 1 -fa off\` per repetition (its own warm-up each time; flash attention off like a tokentrace session's default).`,
      `Medians (ranges) over ${o.reps} interleaved repetitions, each in a fresh process; tokentrace = \`session.trace()\` of 128 tokens after a warm-up run of 128 tokens${
        o.settle
          ? " (and, for more than 1 thread, `settleBlockingPool()`: see the investigation below)"
          : " (Deno's blocking pool not settled: `--no-settle`)"
      }, rate = 127 / decode time. Ratios are taken within each repetition (paired, so drift ` +
      "between repetitions cancels); their geometric mean has a 95% Student t interval on the logs " +
      "of the ratios. This machine's rate drifts by ±15% within minutes, which sets how narrow " +
      "those intervals can get.",
    ];
    s.set("parity", lines.join("\n"));
  }
  const overhead = r.overhead as OverheadRowResult[] | undefined;
  if (overhead) {
    s.set(
      "overhead",
      [
        "| threads | `evaluate()` loop t/s | bare native loop t/s | tracer t/s | tracer / `evaluate()` (target ≥ 0.99) | range | tracer / native | range |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ...overhead.map((x) =>
          `| ${x.threads} | ${f(x.bareMedian)} | ${f(x.nativeMedian)} | ${f(x.tracerMedian)} | **${
            f(x.ratioMedian, 4)
          }** | ${f(x.ratioRange[0], 3)}–${f(x.ratioRange[1], 3)} | ${
            f(x.ratioNativeMedian, 4)
          } | ${f(x.ratioNativeRange[0], 3)}–${f(x.ratioNativeRange[1], 3)} |`
        ),
        "",
        `Medians over ${
          overhead[0]?.pairs ?? 0
        } interleaved rounds in one process (\`tests/bench/overhead_bench.ts\`), 128 tokens per run, greedy. ` +
        "`evaluate()` loop: node-llama-cpp's public `sequence.evaluate()`; bare native loop: the " +
        "tracer's decode loop on node-llama-cpp's native context with nothing recorded, so tracer / " +
        "native is the recording's own cost. All three loops run with the tracer's default " +
        "placement (at 1 thread the process is pinned to one CPU for each run, see the parity " +
        "section), so the ratios compare loops, not placements.",
      ].join("\n"),
    );
  }
  const roof = r.roofline as RooflineResult | undefined;
  if (roof) {
    s.set(
      "roofline",
      [
        `Weight bytes read per token: ${(roof.weightBytesPerToken / 2 ** 20).toFixed(1)} MiB (${
          roof.tiedEmbeddings
            ? "tied embeddings: the output matrix is the embedding table, read in full"
            : "embedding table left out: one row per token"
        }).`,
        `Read bandwidth (${
          roof.bandwidth[0]?.method === "c"
            ? "C probe compiled with cc -O3 -march=native"
            : "JS fallback, a lower bound"
        }, 1 GiB buffer, best of passes): ${
          roof.bandwidth.map((b) =>
            `${b.threads} thread(s) ${f(b.maxGbPerS, 1)} GB/s (median ${f(b.medianGbPerS, 1)})`
          ).join(", ")
        }.`,
        "",
        "| threads | bandwidth GB/s | floor ms/token | measured median ms/token | measured / floor |",
        "| --- | --- | --- | --- | --- |",
        ...roof.byThreads.map((x) =>
          `| ${x.threads} | ${f(x.bandwidthGbPerS, 1)} | ${f(x.floorMs)} | ${f(x.measuredMs)} | **${
            f(x.measuredOverFloor)
          }** |`
        ),
      ].join("\n"),
    );
  }
  const threads = r.threads as Awaited<ReturnType<typeof rowThreads>> | undefined;
  if (threads) {
    s.set(
      "threads",
      [
        "| threads | median t/s | samples | slowest token ms |",
        "| --- | --- | --- | --- |",
        ...threads.rows.map((x) =>
          `| ${x.threads}${x.threads === threads.best ? " (best)" : ""} | ${
            f(x.medianTokensPerS)
          } | ${x.samplesTokensPerS.map((v) => f(v, 1)).join(", ")} | ${f(x.maxTokenMs, 0)} |`
        ),
        "",
        "`probeThreads()` (lib/experiment/probe.ts): 32-token greedy runs, rounds interleaved; a count ties with the fastest when within 2% of its pooled rate or when the 95% interval of the ratio reaches 1, and ties go to fewer threads (`recommendThreads()`, lib/experiment/threads.ts).",
      ].join("\n"),
    );
  }
  const ds = r.dataset as DatasetResult | undefined;
  if (ds) {
    s.set(
      "dataset",
      [
        "| measure | value | target |",
        "| --- | --- | --- |",
        `| Parquet write rate (\`DatasetWriter.writeRuns\`, ${ds.write.batches} calls of ≤ ${
          ds.write.batchRows.toLocaleString("en-US")
        } rows; ${ds.write.runs.toLocaleString("en-US")} runs of ${
          Math.round(ds.write.rows / ds.write.runs)
        } tokens) | **${f(ds.write.rowsPerS / 1e6)} M rows/s** (${f(ds.write.writeS, 1)} s, ${
          f(ds.write.bytes / 2 ** 20, 0)
        } MiB) | ≥ 2 M rows/s |`,
        `| per-run writes (\`DatasetWriter.writeRun\`: one tokens + one runs file per run, ${
          ds.write.perRunRuns.toLocaleString("en-US")
        } runs, separate dataset) | ${f(ds.write.perRunMs)} ms per run (${
          f(ds.write.perRunRowsPerS / 1e6, 3)
        } M rows/s) | |`,
        `| compaction of those runs (\`finish()\` → \`compactSession\`: one range file pair) | ${
          f(ds.write.compactS)
        } s (${f(ds.write.compactRowsPerS / 1e6)} M rows/s) | |`,
        `| read ${
          ds.read.tokenRows.toLocaleString("en-US")
        }-decode-token dataset + slowdown fit + variance decomposition | **${
          f(ds.read.totalS, 1)
        } s** (read ${f(ds.read.readS, 1)}, prepare ${f(ds.read.prepareS, 1)}, fit ${
          f(ds.read.slowdownS, 1)
        }, decomposition ${f(ds.read.varianceS, 1)}) | ≤ 20 s |`,
        `| peak RSS of that process | **${f(ds.read.peakRssMb, 0)} MB** | ≤ 2048 MB |`,
      ].join("\n"),
    );
  }
  const synth = r.synth as SynthResult[] | undefined;
  if (synth) {
    s.set(
      "synth",
      [
        "| model | size MB | seconds | MB/s | peak RSS MB |",
        "| --- | --- | --- | --- | --- |",
        `| lfm2-350m q8_0 | ${f(synth[0]!.bytes / 1e6, 0)} | ${
          fmtSpread(spread(synth.map((x) => x.seconds)), 2)
        } | **${fmtSpread(spread(synth.map((x) => x.mbPerS)), 1)}** | ${
          f(median(synth.map((x) => x.peakRssMb)), 0)
        } |`,
      ].join("\n"),
    );
  }
  const endpoint = r.endpoint as Parameters<typeof endpointSection>[0] | undefined;
  if (endpoint) s.set("endpoint", endpointSection(endpoint));
  return s;
}

const TITLES: Record<RowName, string> = {
  parity: "Parity with llama.cpp's llama-bench",
  overhead: "Tracing overhead",
  roofline: "Roofline",
  threads: "Thread-count probe",
  dataset: "Dataset scale",
  synth: "Synthetic model generation",
  endpoint: "In-process vs llama-server (HTTP overhead per token)",
};

async function writeBenchmarksMd(
  secs: Map<RowName, string>,
  header: string,
): Promise<void> {
  const path = `${ROOT}BENCHMARKS.md`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    text = "# Benchmarks\n\n" +
      ALL_ROWS.map((n) => `## ${TITLES[n]}\n\n<!-- bench:${n}:begin -->\n<!-- bench:${n}:end -->\n`)
        .join("\n");
  }
  for (const [name, body] of secs) {
    const begin = `<!-- bench:${name}:begin -->`;
    const end = `<!-- bench:${name}:end -->`;
    const i = text.indexOf(begin);
    const j = text.indexOf(end);
    const block = `${begin}\n${header}\n\n${body}\n${end}`;
    if (i < 0 || j < i) text += `\n## ${TITLES[name]}\n\n${block}\n`;
    else text = text.slice(0, i) + block + text.slice(j + end.length);
  }
  await Deno.writeTextFile(path, text);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      model: { type: "string", default: DEFAULT_MODEL },
      threads: { type: "string" },
      reps: { type: "string" },
      rows: { type: "string" },
      "run-tokens": { type: "string", default: "250" },
      write: { type: "boolean" },
      "no-write": { type: "boolean", default: false },
      "no-settle": { type: "boolean", default: false },
    },
  });
  const only = values.only?.split(",").map((x) => x.trim()) ?? [...ALL_ROWS];
  const unknown = only.filter((x) => !(ALL_ROWS as readonly string[]).includes(x));
  if (unknown.length > 0) {
    console.error(
      `Cannot run bench: unknown row ${JSON.stringify(unknown[0])}; use ${ALL_ROWS.join(", ")}`,
    );
    return 2;
  }
  const cores = navigator.hardwareConcurrency;
  const o: Options = {
    quick: values.quick,
    settle: !values["no-settle"],
    model: values.model,
    threads: values.threads?.split(",").map(Number) ?? [...new Set([1, cores])],
    reps: Number(values.reps ?? (values.quick ? 2 : 10)),
    rows: Number(values.rows ?? (values.quick ? 1_000_000 : 10_000_000)),
    runTokens: Number(values["run-tokens"]),
  };
  const needsModel = only.some((x) =>
    ["parity", "overhead", "roofline", "threads", "endpoint"].includes(x)
  );
  if (needsModel) {
    try {
      await Deno.stat(`${ROOT}${o.model}`).catch(() => Deno.stat(o.model));
    } catch {
      if (o.model !== DEFAULT_MODEL) {
        console.error(`Cannot run bench: model file "${o.model}" does not exist`);
        return 2;
      }
      log(`writing ${DEFAULT_MODEL} (synthetic lfm2-350m q8_0)`);
      const { writeSyntheticModel } = await import("../../lib/synth/synth.ts");
      await Deno.mkdir(`${ROOT}data/models`, { recursive: true });
      await writeSyntheticModel(`${ROOT}${DEFAULT_MODEL}`, { preset: "lfm2-350m", dtype: "q8_0" });
    }
  }
  const started = new Date();
  const m = await machine();
  log(`machine: ${m.cpu}, ${m.logicalCores} cores, load ${f(m.loadAverage1m as number)}`);
  const results: Results = { errors: {} };
  const order = ALL_ROWS.filter((x) => only.includes(x));
  for (const row of order) {
    try {
      if (row === "parity") results.parity = await rowParity(o);
      if (row === "overhead") results.overhead = await rowOverhead(o);
      if (row === "roofline") {
        results.roofline = await rowRoofline(o, results.parity as ParityResult | undefined);
      }
      if (row === "threads") results.threads = await rowThreads(o);
      if (row === "dataset") results.dataset = await rowDataset(o);
      if (row === "synth") results.synth = await rowSynth(o);
      if (row === "endpoint") {
        results.endpoint = await rowEndpoint({ ...o, root: ROOT }, PROMPT, log);
      }
    } catch (e) {
      results.errors[row] = e instanceof Error ? e.message : String(e);
      log(`${row} failed: ${results.errors[row]}`);
    }
  }
  const finished = new Date();
  const command = `deno task bench ${Deno.args.join(" ")}`.trim();
  const record = {
    command,
    started: started.toISOString(),
    finished: finished.toISOString(),
    machine: m,
    options: o,
    results,
  };
  await Deno.mkdir(OUT_DIR, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "").replace(/\d{3}Z$/, "Z");
  const json = JSON.stringify(record, null, 1);
  await Deno.writeTextFile(`${OUT_DIR}/bench-${stamp}.json`, json);
  await Deno.writeTextFile(`${OUT_DIR}/latest.json`, json);

  const secs = sections(results, o);
  const header = `\`${command}\` — ${
    started.toISOString().slice(0, 16).replace("T", " ")
  } UTC, ${m.cpu} (${m.logicalCores} logical cores, ${m.memoryGiB} GiB), ${m.os}, Deno ${m.deno}, node-llama-cpp ${m.nodeLlamaCpp}; 1-min load average at start ${
    f(m.loadAverage1m as number)
  }. Raw numbers: \`.cache/bench/bench-${stamp}.json\`.`;
  for (const row of order) {
    console.log(`\n## ${TITLES[row]}\n`);
    console.log(secs.get(row) ?? `failed: ${results.errors[row]}`);
  }
  const write = values.write ?? (!values.quick && !values["no-write"]);
  if (write && secs.size > 0) {
    await writeBenchmarksMd(secs, header);
    log(`rewrote BENCHMARKS.md sections: ${[...secs.keys()].join(", ")}`);
  }
  log(`raw numbers: .cache/bench/bench-${stamp}.json`);
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--child");
  if (i >= 0) {
    const kind = Deno.args[i + 1]!;
    const fn = CHILDREN[kind];
    if (fn === undefined) throw new Error(`Cannot run bench child: unknown kind "${kind}"`);
    const result = await fn(JSON.parse(Deno.args[i + 2] ?? "{}") as never);
    console.log(`@@result ${JSON.stringify(result)}`);
    Deno.exit(0);
  }
  Deno.exit(await main());
}
