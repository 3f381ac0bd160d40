// The process's one node-llama-cpp `Llama` instance, and its log channel.
//
// node-llama-cpp 3.21.1 keeps one logger per loaded binding. Each getLlama() call installs its
// logger by releasing the previous thread-safe function, whose finalizer later clears the
// binding's "JS logger set" flag: from then on llama.cpp's lines go to stdout and never reach
// any logger (seen here: a second session in one process lost its timings lines). So
// tokentrace calls getLlama() once per process and shares the instance; code that needs a
// bare node-llama-cpp context next to the tracer (the overhead bench) takes it from here too.
// Should someone else call getLlama() anyway, resetPerf() notices before the next run and
// installs the logger again.

import { getLlama, type Llama, type LlamaContext, LlamaLogLevel } from "node-llama-cpp";
import { isPerfLine, type LlamaPerf, parsePerf } from "./_perf.ts";

/** Compute backend to ask node-llama-cpp for. */
export type GpuChoice = "auto" | "metal" | "cuda" | "vulkan" | "cpu";

const PERF_TIMEOUT_MS = 2000;
const RESET_TIMEOUT_MS = 500;
const REPAIR_ATTEMPTS = 3;
const MAX_WARNINGS = 1000;

/** Warnings and errors llama.cpp logged in this process, oldest first (at most 1000). */
export const llamaWarnings: string[] = [];

let perfLines: string[] = [];
let onPerfLine: (() => void) | undefined;
let perfQueue: Promise<unknown> = Promise.resolve();

function log(level: LlamaLogLevel, message: string): void {
  if (isPerfLine(message)) {
    perfLines.push(message);
    onPerfLine?.();
  } else if (
    (level === LlamaLogLevel.warn || level === LlamaLogLevel.error ||
      level === LlamaLogLevel.fatal) && llamaWarnings.length < MAX_WARNINGS
  ) {
    llamaWarnings.push(message);
  }
}

let shared: { gpu: GpuChoice; llama: Promise<Llama> } | undefined;

/**
 * The process's Llama instance for a backend choice, created on first use (with no thread cap,
 * so a context's `threads` is exactly what it uses, and never building from source). An
 * instance made for another choice serves `auto` and the backend it actually runs (so a
 * refused `metal` request that loaded the CPU binary leaves `cpu` and `auto` usable), and is
 * returned for an explicit GPU request too: the caller compares its backend with the request
 * (lib/tracer/backend.ts), since the process cannot load another binding.
 * @throws {Error} When `cpu` is asked for and the process runs a GPU binding.
 */
export async function sharedLlama(gpu: GpuChoice): Promise<Llama> {
  if (shared !== undefined && shared.gpu !== gpu) {
    const existing = await shared.llama.catch(() => undefined);
    const loaded = existing?.gpu === false ? "cpu" : existing?.gpu;
    if (existing !== undefined && (gpu !== "cpu" || loaded === "cpu")) return existing;
    if (shared !== undefined) {
      throw new Error(
        `Cannot open a session with gpu "${gpu}": this process already uses gpu "${shared.gpu}" (node-llama-cpp keeps one llama.cpp binding per process)`,
      );
    }
  }
  if (shared === undefined) {
    const llama = getLlama({
      gpu: gpu === "cpu" ? false : gpu,
      maxThreads: 0,
      build: "never",
      skipDownload: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.warn,
      logger: log,
    });
    shared = { gpu, llama };
    llama.catch(() => shared = undefined);
  }
  return shared.llama;
}

/** Prints llama.cpp's counters for a context (which resets them) and waits for their lines. */
async function printAndRead(
  llama: Llama,
  context: LlamaContext,
  timeoutMs: number,
): Promise<LlamaPerf | undefined> {
  perfLines = [];
  llama.logLevel = LlamaLogLevel.info;
  try {
    const arrived = new Promise<LlamaPerf | undefined>((resolve) => {
      const timer = setTimeout(() => {
        onPerfLine = undefined;
        resolve(undefined);
      }, timeoutMs);
      onPerfLine = () => {
        const perf = parsePerf(perfLines);
        if (perf === undefined) return;
        clearTimeout(timer);
        onPerfLine = undefined;
        resolve(perf);
      };
    });
    await context.printTimings();
    onPerfLine?.();
    return await arrived;
  } finally {
    llama.logLevel = LlamaLogLevel.warn;
  }
}

// node-llama-cpp 3.21.1 internals: the binding's setLogger() and the Llama's log receiver.
interface LlamaInternals {
  _bindings?: { setLogger?(receiver: unknown): void };
  _onAddonLog?: unknown;
}

function serialized<T>(task: () => Promise<T>): Promise<T> {
  const result = perfQueue.then(task);
  perfQueue = result.catch(() => {});
  return result;
}

/**
 * Prints llama.cpp's counters for a context (which resets them) and resolves with their
 * values. Reads are serialized: lines of two contexts never mix.
 */
export function readPerf(llama: Llama, context: LlamaContext): Promise<LlamaPerf> {
  return serialized(async () => {
    const perf = await printAndRead(llama, context, PERF_TIMEOUT_MS);
    if (perf === undefined) {
      throw new Error(
        `Cannot read llama.cpp's performance counters: its timings lines did not arrive within ${PERF_TIMEOUT_MS} ms`,
      );
    }
    return perf;
  });
}

/**
 * Resets llama.cpp's counters for a context before a run, checking on the way that its lines
 * reach the logger. When they do not (another getLlama() in this process released the logger),
 * installs the logger again: the binding's flag is clear then, so nothing else gets released.
 */
export function resetPerf(llama: Llama, context: LlamaContext): Promise<void> {
  return serialized(async () => {
    const internals = llama as unknown as LlamaInternals;
    for (let attempt = 0; attempt < REPAIR_ATTEMPTS; attempt++) {
      if (await printAndRead(llama, context, RESET_TIMEOUT_MS) !== undefined) return;
      if (typeof internals._bindings?.setLogger !== "function") return;
      // Each release's finalizer runs later, so check again after installing.
      internals._bindings.setLogger(internals._onAddonLog);
      llamaWarnings.push(
        "tokentrace: llama.cpp's log lines stopped reaching this process's logger (another getLlama() call?); installed it again",
      );
    }
  });
}
