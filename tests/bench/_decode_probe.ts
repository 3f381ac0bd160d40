/**
 * Decode probe: a plain node-llama-cpp `sequence.evaluate()` loop with per-token times, plus
 * what explains them: llama.cpp's own eval counters, per-thread CPU and run-queue wait
 * (`/proc/self/task/<tid>/schedstat`), thread counts and V8 GC events.
 *
 * It is the "bare loop" of the parity and overhead investigations. Each call of the CLI is a
 * fresh process, so settings never leak between configurations:
 *
 * ```sh
 * deno run -A --v8-flags=--trace-gc tests/bench/_decode_probe.ts --model m.gguf --threads 2 \
 *   --tokens 128 --reps 3 [--worker] [--dispatch nextCycle|sync|microtask] [--json out.json]
 * ```
 *
 * @module
 */

import process from "node:process";
import type { Llama, LlamaLogLevel } from "node-llama-cpp";

/** How node-llama-cpp's context dispatches queued decodes. */
export type DispatchMode = "nextCycle" | "sync" | "microtask";

/** Options of {@linkcode probeDecode}. */
export interface ProbeOptions {
  /** GGUF model path. */
  model: string;
  /** Compute threads. @default 1 */
  threads?: number;
  /** Generated tokens per repetition. @default 128 */
  tokens?: number;
  /** Repetitions (the first one is also reported; callers decide on warm-ups). @default 3 */
  reps?: number;
  /** Dispatch schedule of the context. @default "nextCycle" */
  dispatch?: DispatchMode;
  /** Prompt text. @default "The" */
  prompt?: string;
  /** Load the model with mmap. @default true */
  mmap?: boolean;
  /** Context size. @default 1024 */
  contextSize?: number;
  /** Sample with node-llama-cpp (greedy); false re-evaluates a fixed token without sampling. @default true */
  sample?: boolean;
  /** Record per-token process CPU and main-thread run/wait (two small reads per token). @default false */
  perToken?: boolean;
  /**
   * Bypass node-llama-cpp's evaluate() machinery (queue, locks, generator, per-token sampler
   * config) and drive its native context directly: initBatch/addToBatch/decodeBatch/sampleToken.
   * @default false
   */
  raw?: boolean;
  /** Sleep this long before the repetitions (lets idle blocking-pool threads expire). @default 0 */
  idleMs?: number;
  /** Before the repetitions, wait for Deno's blocking pool to shrink to one thread. @default false */
  settle?: boolean;
}

/** Per-thread scheduler counters from `/proc/self/task/<tid>/schedstat`. */
export interface ThreadStat {
  /** Thread id. */
  tid: number;
  /** Thread name (`comm`). */
  name: string;
  /** Time on CPU, ms. */
  cpuMs: number;
  /** Time runnable but waiting for a CPU, ms. */
  waitMs: number;
  /** Time slices. */
  slices: number;
}

/** One repetition of the probe. */
export interface ProbeRep {
  /** Token-to-token wall times, ms; entry 0 is prompt + first token. */
  latenciesMs: number[];
  /** Wall time of the repetition, ms. */
  wallMs: number;
  /** Start of the repetition on CLOCK_MONOTONIC, ms (to line up with `perf sched` traces). */
  startMonotonicMs: number;
  /** llama.cpp's eval (decode) time for the repetition, ms (llama_perf_context). */
  llamaEvalMs: number | null;
  /** llama.cpp's eval count. */
  llamaEvalTokens: number | null;
  /** llama.cpp's prompt-eval time, ms. */
  llamaPromptMs: number | null;
  /** Process CPU time during the repetition, ms (all threads incl. exited ones). */
  processCpuMs: number;
  /** Per-thread CPU/wait deltas of threads alive at the end of the repetition. */
  threads: ThreadStat[];
  /** Threads alive at the end. */
  threadCount: number;
  /** Per token (with `perToken`): process CPU ms used during the token (all threads). */
  tokenCpuMs?: number[];
  /** Per token (with `perToken`): main JS thread CPU ms during the token. */
  tokenMainCpuMs?: number[];
  /** Per token (with `perToken`): main JS thread run-queue wait ms during the token. */
  tokenMainWaitMs?: number[];
  /** Sum over the repetition of the native decodeBatch() promise durations as JS sees them, ms. */
  jsDecodeMs: number;
  /** Sum of the native sampleToken() promise durations as JS sees them, ms. */
  jsSampleMs: number;
  /** Number of decodeBatch() and sampleToken() calls. */
  decodeCalls: number;
  sampleCalls: number;
}

/** Result of {@linkcode probeDecode}. */
export interface ProbeResult {
  /** Settings used. */
  options: Required<ProbeOptions>;
  /** Where the loop ran. */
  where: "main" | "worker";
  /** Process id (for lining up with `perf sched` traces). */
  pid: number;
  /** Model load time, ms. */
  loadMs: number;
  /** Repetitions. */
  reps: ProbeRep[];
}

function readProcessCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let offsetMs: number | undefined;
/** CLOCK_MONOTONIC minus performance.now(), ms (via libc's clock_gettime). */
function monotonicOffsetMs(): number {
  if (offsetMs !== undefined) return offsetMs;
  const libc = Deno.dlopen("libc.so.6", {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  });
  const ts = new BigInt64Array(2);
  const before = performance.now();
  libc.symbols.clock_gettime(1, new Uint8Array(ts.buffer));
  const after = performance.now();
  libc.close();
  offsetMs = Number(ts[0]!) * 1e3 + Number(ts[1]!) / 1e6 - (before + after) / 2;
  return offsetMs;
}

/** Thread id of the JS thread running this code: the process's main thread, or a Worker's. */
function jsThreadTid(where: "main" | "worker"): number {
  if (where === "main") return Deno.pid;
  for (const e of Deno.readDirSync("/proc/self/task")) {
    const comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim();
    if (comm.startsWith("worker")) return Number(e.name);
  }
  return Deno.pid;
}

/** Reads every live thread's schedstat. */
export function readThreads(): Map<number, ThreadStat> {
  const out = new Map<number, ThreadStat>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    const tid = Number(e.name);
    try {
      const [run, wait, slices] = Deno.readTextFileSync(`/proc/self/task/${tid}/schedstat`)
        .trim().split(" ").map(Number);
      const name = Deno.readTextFileSync(`/proc/self/task/${tid}/comm`).trim();
      out.set(tid, {
        tid,
        name,
        cpuMs: run! / 1e6,
        waitMs: wait! / 1e6,
        slices: slices!,
      });
    } catch { /* thread exited meanwhile */ }
  }
  return out;
}

function diffThreads(a: Map<number, ThreadStat>, b: Map<number, ThreadStat>): ThreadStat[] {
  const res: ThreadStat[] = [];
  for (const [tid, s] of b) {
    const p = a.get(tid);
    res.push({
      tid,
      name: s.name,
      cpuMs: s.cpuMs - (p?.cpuMs ?? 0),
      waitMs: s.waitMs - (p?.waitMs ?? 0),
      slices: s.slices - (p?.slices ?? 0),
    });
  }
  return res.filter((t) => t.cpuMs > 0.05 || t.waitMs > 0.05).sort((x, y) => y.cpuMs - x.cpuMs);
}

function parsePerf(
  lines: string[],
): { eval: number | null; evalN: number | null; prompt: number | null } {
  let ev: number | null = null, evN: number | null = null, pr: number | null = null;
  for (const l of lines) {
    let m = l.match(/prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/);
    if (m) pr = Number(m[1]);
    m = l.match(/\beval time =\s*([\d.]+) ms \/\s*(\d+) runs/);
    if (m && !l.includes("prompt")) {
      ev = Number(m[1]);
      evN = Number(m[2]);
    }
  }
  return { eval: ev, evalN: evN, prompt: pr };
}

function dispatchOption(mode: DispatchMode): "nextCycle" | ((d: () => void) => void) {
  if (mode === "sync") return (d) => d();
  if (mode === "microtask") return (d) => queueMicrotask(d);
  return "nextCycle";
}

/** Runs the probe in this thread. */
export async function probeDecode(
  options: ProbeOptions,
  where: "main" | "worker" = "main",
): Promise<ProbeResult> {
  const {
    model: modelPath,
    threads = 1,
    tokens = 128,
    reps = 3,
    dispatch = "nextCycle",
    prompt = "The",
    mmap = true,
    contextSize = 1024,
    sample = true,
    perToken = false,
    raw = false,
    idleMs = 0,
    settle = false,
  } = options;
  // Imported lazily: a process whose main thread and a Worker both load node-llama-cpp hangs.
  const { getLlama } = await import("node-llama-cpp");
  const logs: string[] = [];
  const llama: Llama = await getLlama({
    gpu: false,
    logLevel: "info" as LlamaLogLevel,
    logger: (_level, message) => {
      logs.push(message);
    },
  });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath, useMmap: mmap });
  const loadMs = performance.now() - t0;
  const context = await model.createContext({
    contextSize,
    threads,
    performanceTracking: true,
    batching: { dispatchSchedule: dispatchOption(dispatch) },
  });
  // Time the two native async calls of each step as the JS thread sees them (call to resolve).
  const native = (context as unknown as {
    _ctx: { decodeBatch(): Promise<void>; sampleToken(...a: unknown[]): Promise<unknown> };
  })._ctx;
  const acc = { decode: 0, sample: 0, nd: 0, ns: 0 };
  const decodeBatch = native.decodeBatch.bind(native);
  native.decodeBatch = async () => {
    const t = performance.now();
    await decodeBatch();
    acc.decode += performance.now() - t;
    acc.nd++;
  };
  const sampleToken = native.sampleToken.bind(native);
  native.sampleToken = async (...a: unknown[]) => {
    const t = performance.now();
    const r = await sampleToken(...a);
    acc.sample += performance.now() - t;
    acc.ns++;
    return r;
  };
  const seq = context.getSequence();
  // deno-lint-ignore no-explicit-any
  const bindings = (llama as any)._bindings;
  // deno-lint-ignore no-explicit-any
  const rawSampler = raw ? new bindings.AddonSampler((model as any)._model) : undefined;
  if (raw) rawSampler.applyConfig({ temperature: 0, minP: 0, topK: 40, topP: 0.95, seed: 0 });
  const promptTokens = model.tokenize(prompt);
  const out: ProbeRep[] = [];
  if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
  if (settle) {
    const { settleBlockingPool } = await import("../../lib/runtime/pool.ts");
    await settleBlockingPool();
  }
  for (let r = 0; r < reps; r++) {
    await seq.clearHistory();
    await context.printTimings(); // resets llama.cpp's counters
    logs.length = 0;
    const th0 = readThreads();
    const cpu0 = readProcessCpuMs();
    acc.decode =
      acc.sample =
      acc.nd =
      acc.ns =
        0;
    const lat: number[] = [];
    const tokCpu: number[] = [], tokMain: number[] = [], tokMainWait: number[] = [];
    const jsTid = jsThreadTid(where);
    const mainStat = `/proc/self/task/${jsTid}/schedstat`;
    const readMain = (): number[] => Deno.readTextFileSync(mainStat).split(" ").map(Number);
    let cpuPrev = perToken ? process.cpuUsage() : null;
    let mainPrev = perToken ? readMain() : null;
    const start = performance.now();
    let prev = start;
    if (raw) {
      // deno-lint-ignore no-explicit-any
      const ctx = native as any;
      // deno-lint-ignore no-explicit-any
      const seqId = (seq as any)._sequenceId as number;
      let pos = 0;
      ctx.initBatch(promptTokens.length);
      let idx = ctx.addToBatch(
        seqId,
        pos,
        Uint32Array.from(promptTokens),
        Uint32Array.of(promptTokens.length - 1),
      );
      pos += promptTokens.length;
      await ctx.decodeBatch();
      let tok = await ctx.sampleToken(idx[0], rawSampler);
      const one = new Uint32Array(1);
      const zero = Uint32Array.of(0);
      while (true) {
        const now = performance.now();
        lat.push(now - prev);
        prev = now;
        if (lat.length >= tokens) break;
        ctx.initBatch(1);
        one[0] = tok;
        idx = ctx.addToBatch(seqId, pos++, one, zero);
        await ctx.decodeBatch();
        tok = await ctx.sampleToken(idx[0], rawSampler);
      }
      // The sequence's JS state never saw these tokens: erase them natively.
      ctx.removeTokenCellsFromSequence(seqId, 0, pos);
    } else if (sample) {
      for await (const _t of seq.evaluate(promptTokens, { temperature: 0 })) {
        const now = performance.now();
        lat.push(now - prev);
        prev = now;
        if (perToken) {
          const c = process.cpuUsage();
          const m = readMain();
          tokCpu.push((c.user + c.system - cpuPrev!.user - cpuPrev!.system) / 1000);
          tokMain.push((m[0]! - mainPrev![0]!) / 1e6);
          tokMainWait.push((m[1]! - mainPrev![1]!) / 1e6);
          cpuPrev = c;
          mainPrev = m;
        }
        if (lat.length >= tokens) break;
      }
    } else {
      await seq.evaluateWithoutGeneratingNewTokens(promptTokens);
      lat.push(performance.now() - prev);
      prev = performance.now();
      const tok = promptTokens[promptTokens.length - 1]!;
      while (lat.length < tokens) {
        await seq.evaluateWithoutGeneratingNewTokens([tok]);
        const now = performance.now();
        lat.push(now - prev);
        prev = now;
      }
    }
    const wallMs = performance.now() - start;
    const jsAcc = { ...acc };
    const cpu1 = readProcessCpuMs();
    const th1 = readThreads();
    await context.printTimings();
    await new Promise((r) => setTimeout(r, 20)); // logs arrive asynchronously
    const perf = parsePerf(logs);
    out.push({
      latenciesMs: lat,
      wallMs,
      startMonotonicMs: start + monotonicOffsetMs(),
      llamaEvalMs: perf.eval,
      llamaEvalTokens: perf.evalN,
      llamaPromptMs: perf.prompt,
      processCpuMs: cpu1 - cpu0,
      threads: diffThreads(th0, th1),
      threadCount: th1.size,
      jsDecodeMs: jsAcc.decode,
      jsSampleMs: jsAcc.sample,
      decodeCalls: jsAcc.nd,
      sampleCalls: jsAcc.ns,
      ...(perToken
        ? { tokenCpuMs: tokCpu, tokenMainCpuMs: tokMain, tokenMainWaitMs: tokMainWait }
        : {}),
    });
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return {
    options: {
      model: modelPath,
      threads,
      tokens,
      reps,
      dispatch,
      prompt,
      mmap,
      contextSize,
      sample,
      perToken,
      raw,
      idleMs,
      settle,
    },
    where,
    pid: Deno.pid,
    loadMs,
    reps: out,
  };
}

/** Runs the probe inside a Worker (generation off the main JS thread). */
export function probeDecodeInWorker(options: ProbeOptions): Promise<ProbeResult> {
  const w = new Worker(import.meta.url, { type: "module" });
  return new Promise<ProbeResult>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<{ ok: boolean; result?: ProbeResult; error?: string }>) => {
      w.terminate();
      if (e.data.ok) resolve(e.data.result!);
      else reject(new Error(e.data.error));
    };
    w.onerror = (e) => {
      w.terminate();
      reject(new Error(e.message));
    };
    w.postMessage(options);
  });
}

function stats(xs: number[]): { mean: number; median: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
  return {
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    median: q(0.5),
    p95: q(0.95),
    max: s[s.length - 1]!,
  };
}

/** One-line summary of a repetition (decode tokens only: entries 1..n-1). */
export function summarizeRep(rep: ProbeRep): string {
  const dec = rep.latenciesMs.slice(1);
  const s = stats(dec);
  const decodeMs = dec.reduce((a, b) => a + b, 0);
  const groups = new Map<string, { cpu: number; wait: number; n: number }>();
  for (const t of rep.threads) {
    const key = t.tid === Deno.pid
      ? "main"
      : t.name.startsWith("worker")
      ? "js-worker"
      : t.name.replace(/[-\s]?\d+$/, "");
    const g = groups.get(key) ?? { cpu: 0, wait: 0, n: 0 };
    g.cpu += t.cpuMs;
    g.wait += t.waitMs;
    g.n++;
    groups.set(key, g);
  }
  const live = rep.threads.reduce((a, t) => a + t.cpuMs, 0);
  const top =
    [...groups].sort((a, b) => b[1].cpu - a[1].cpu).map(([k, g]) =>
      `${k}(${g.n}) ${g.cpu.toFixed(0)}cpu/${g.wait.toFixed(0)}wait`
    ).join(", ") + `, exited ~${Math.max(0, rep.processCpuMs - live).toFixed(0)}cpu`;
  return `first ${rep.latenciesMs[0]!.toFixed(1)} ms; decode mean ${s.mean.toFixed(2)} med ${
    s.median.toFixed(2)
  } p95 ${s.p95.toFixed(2)} max ${s.max.toFixed(1)} ms (${(1000 / s.mean).toFixed(1)} t/s); ` +
    `llama eval ${rep.llamaEvalMs?.toFixed(0)} ms/${rep.llamaEvalTokens} vs wall ${
      decodeMs.toFixed(0)
    } ms (all ${rep.wallMs.toFixed(0)}: js-seen decode ${
      rep.jsDecodeMs.toFixed(0)
    }/${rep.decodeCalls}, sample ${
      rep.jsSampleMs.toFixed(0)
    }/${rep.sampleCalls}); cpu ${rep.processCpuMs} ms; threads ${rep.threadCount}: ${top}`;
}

// deno-lint-ignore no-explicit-any
const self_ = globalThis as any;
if (typeof self_.WorkerGlobalScope !== "undefined" && self_ instanceof self_.WorkerGlobalScope) {
  self_.onmessage = async (e: MessageEvent<ProbeOptions>) => {
    try {
      self_.postMessage({ ok: true, result: await probeDecode(e.data, "worker") });
    } catch (err) {
      self_.postMessage({ ok: false, error: String(err) });
    }
  };
} else if (import.meta.main) {
  const a = Deno.args;
  const get = (k: string): string | undefined => {
    const i = a.indexOf(`--${k}`);
    return i >= 0 ? a[i + 1] : undefined;
  };
  const opts: ProbeOptions = {
    model: get("model") ?? "data/models/lfm2-350m-q8_0.gguf",
    threads: Number(get("threads") ?? 1),
    tokens: Number(get("tokens") ?? 128),
    reps: Number(get("reps") ?? 3),
    dispatch: (get("dispatch") ?? "nextCycle") as DispatchMode,
    mmap: !a.includes("--no-mmap"),
    sample: !a.includes("--no-sample"),
    perToken: a.includes("--per-token"),
    raw: a.includes("--raw"),
    idleMs: Number(get("idle-ms") ?? 0),
    settle: a.includes("--settle"),
  };
  const res = a.includes("--worker") ? await probeDecodeInWorker(opts) : await probeDecode(opts);
  console.log(
    `# ${res.where}${
      opts.raw ? " raw" : ""
    } threads=${opts.threads} dispatch=${opts.dispatch} mmap=${opts.mmap} sample=${opts.sample} load ${
      res.loadMs.toFixed(0)
    } ms`,
  );
  for (const [i, r] of res.reps.entries()) console.log(`rep ${i}: ${summarizeRep(r)}`);
  const json = get("json");
  if (json) await Deno.writeTextFile(json, JSON.stringify(res));
}
