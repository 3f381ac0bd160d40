/**
 * Deno blocking-pool settling: counts the threads of the pool that runs N-API async work and
 * waits for idle ones to exit, so that llama.cpp decode calls do not hop between threads.
 *
 * Folder `lib/runtime/`: the process around llama.cpp: Deno's blocking-pool settling and CPU
 * affinity. May import: nothing else in lib/.
 *
 * @module
 */

/** Options of {@linkcode settleBlockingPool}. */
export interface SettleBlockingPoolOptions {
  /**
   * Give up after this long; Deno's pool threads exit after 10 s without work.
   * @default {11000}
   */
  timeoutMs?: number;
  /**
   * Pool threads that may remain.
   * @default {1}
   */
  maxThreads?: number;
  /**
   * Check interval.
   * @default {250}
   */
  pollMs?: number;
}

/** What {@linkcode settleBlockingPool} saw. */
export interface SettleBlockingPoolResult {
  /** Pool threads before waiting, or `undefined` where they cannot be counted (not Linux). */
  before: number | undefined;
  /** Pool threads when it returned, or `undefined` where they cannot be counted. */
  after: number | undefined;
  /** Milliseconds spent waiting. */
  waitedMs: number;
}

// Deno runs N-API async work (node-llama-cpp's decode and sampling calls) on tokio's blocking
// thread pool, whose threads are named "tokio-runtime-worker" (15 characters kept by Linux).
const POOL_THREAD = "tokio-runtime-w";

/**
 * Counts the threads of Deno's blocking pool in this process (Linux only: reads
 * `/proc/self/task/<tid>/comm`).
 *
 * @returns The thread count, or `undefined` where it cannot be read.
 *
 * @example Count the pool threads
 * ```ts
 * import { blockingPoolThreads } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const n = blockingPoolThreads();
 * assert.ok(n === undefined || n >= 0);
 * ```
 */
export function blockingPoolThreads(): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    let n = 0;
    for (const entry of Deno.readDirSync("/proc/self/task")) {
      try {
        const comm = Deno.readTextFileSync(`/proc/self/task/${entry.name}/comm`);
        if (comm.trim() === POOL_THREAD) n++;
      } catch { /* the thread exited meanwhile */ }
    }
    return n;
  } catch {
    return undefined;
  }
}

/**
 * Waits until Deno's blocking thread pool has shrunk to `maxThreads` threads (or the timeout).
 *
 * Why: node-llama-cpp runs every `llama_decode` on a pool thread, and Deno's pool hands each
 * job to the thread idle longest, so with many idle threads each token is computed from a
 * different thread. llama.cpp then starts its helper compute thread next to that freshly woken
 * thread, on the same core, and the two time-share one core (spinning at every barrier) until
 * the kernel migrates one: at 2 threads on 2 cores decode takes about twice as long. Idle pool
 * threads exit after 10 s; with one thread left every call runs on it and the helper thread
 * lands on the other core. Call it after loading a model and before timing, with nothing else
 * running; it returns at once when the pool is already small or cannot be observed.
 *
 * @param options Timeout, threads allowed to remain, poll interval.
 * @returns The thread counts before and after, and the time waited.
 *
 * @example Return at once when nothing needs to settle
 * ```ts
 * import { settleBlockingPool } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const r = await settleBlockingPool({ timeoutMs: 0, maxThreads: 1000 });
 * assert.equal(r.waitedMs, 0);
 * ```
 */
export async function settleBlockingPool(
  options: SettleBlockingPoolOptions = {},
): Promise<SettleBlockingPoolResult> {
  const { timeoutMs = 11_000, maxThreads = 1, pollMs = 250 } = options;
  const before = blockingPoolThreads();
  const start = performance.now();
  let after = before;
  let waited = false;
  while (after !== undefined && after > maxThreads && performance.now() - start < timeoutMs) {
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    after = blockingPoolThreads();
  }
  return { before, after, waitedMs: waited ? performance.now() - start : 0 };
}
