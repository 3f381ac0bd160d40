/**
 * CPU affinity of this process's threads, through libc's `sched_setaffinity` (Linux only,
 * needs Deno's ffi and read permissions).
 *
 * Why it exists: at one compute thread, node-llama-cpp runs each decode step on whichever
 * thread of Deno's blocking pool takes the job, and the scheduler moves that work between
 * CPUs from step to step. Pinning the whole process to one CPU for the run keeps the step on
 * one CPU. On the 2-core benchmark machine that made one-thread decode 1.14x as fast and
 * closed the gap to llama-bench (BENCHMARKS.md, investigation section 5).
 *
 * @module
 */

const CPUSET_BYTES = 128; // glibc's cpu_set_t: 1024 CPUs

interface Libc {
  symbols: {
    sched_getcpu(): number;
    gettid(): number;
    sched_getaffinity(pid: number, size: bigint, mask: Uint8Array): number;
    sched_setaffinity(pid: number, size: bigint, mask: Uint8Array): number;
  };
}

let libc: Libc | null | undefined;

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    if (Deno.permissions.querySync({ name: "read", path: "/proc/self/task" }).state !== "granted") {
      return libc;
    }
    libc = Deno.dlopen("libc.so.6", {
      sched_getcpu: { parameters: [], result: "i32" },
      gettid: { parameters: [], result: "i32" },
      sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
      sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
    }) as unknown as Libc;
  } catch {
    libc = null;
  }
  return libc;
}

function maskToCpus(mask: Uint8Array): number[] {
  const cpus: number[] = [];
  for (let i = 0; i < mask.length * 8; i++) {
    if (mask[i >> 3]! & (1 << (i & 7))) cpus.push(i);
  }
  return cpus;
}

function cpusToMask(cpus: readonly number[]): Uint8Array {
  const mask = new Uint8Array(CPUSET_BYTES);
  for (const c of cpus) mask[c >> 3]! |= 1 << (c & 7);
  return mask;
}

/** The calling thread's affinity mask, or undefined when it cannot be read. */
function callerMask(c: Libc): Uint8Array | undefined {
  const mask = new Uint8Array(CPUSET_BYTES);
  return c.symbols.sched_getaffinity(0, BigInt(CPUSET_BYTES), mask) === 0 ? mask : undefined;
}

/**
 * The first of `cpus` that is not a CPU in `allowed` (not an integer, or not allowed), or
 * undefined when all are; shared by {@linkcode pinProcessThreads} and `session.trace()`.
 */
export function foreignCpu(
  cpus: readonly number[],
  allowed: readonly number[],
): number | undefined {
  return cpus.find((x) => !Number.isInteger(x) || !allowed.includes(x));
}

function threadIds(): number[] {
  const tids: number[] = [];
  for (const e of Deno.readDirSync("/proc/self/task")) tids.push(Number(e.name));
  return tids;
}

/**
 * Whether this process can read and set its threads' CPU affinity: Linux, with Deno's ffi
 * permission and read permission on `/proc/self/task`.
 *
 * @example Ask before pinning
 * ```ts
 * import { canPinThreads } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(typeof canPinThreads(), "boolean");
 * ```
 */
export function canPinThreads(): boolean {
  return openLibc() !== null;
}

/**
 * The CPUs the calling thread may run on, ascending, or `undefined` where
 * {@linkcode canPinThreads} is false.
 *
 * @example The CPUs of this process
 * ```ts
 * import { allowedCpus, canPinThreads } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const cpus = allowedCpus();
 * if (canPinThreads()) assert.ok(cpus!.length >= 1);
 * else assert.equal(cpus, undefined);
 * ```
 */
export function allowedCpus(): number[] | undefined {
  const c = openLibc();
  const mask = c ? callerMask(c) : undefined;
  return mask ? maskToCpus(mask) : undefined;
}

/** What {@linkcode pinProcessThreads} did; `restore()` puts every thread's affinity back. */
export interface ThreadPin {
  /** The CPUs every thread of the process was pinned to. */
  readonly cpus: readonly number[];
  /** Threads whose affinity was set. */
  readonly threads: number;
  /**
   * Gives every thread its affinity from before the pin back (threads started meanwhile get
   * the calling thread's former CPUs). Safe to call more than once.
   */
  restore(): void;
}

/**
 * Pins every thread of this process to `cpus` (threads started later inherit the CPUs of
 * the thread that starts them, so new pool threads land there too). With no `cpus`, pins
 * to the CPU the calling thread is running on. Returns `undefined` where
 * {@linkcode canPinThreads} is false; throws a `RangeError` for a CPU outside
 * {@linkcode allowedCpus}.
 *
 * @example Pin for a measurement, then restore
 * ```ts
 * import { pinProcessThreads } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const pin = pinProcessThreads();
 * try {
 *   if (pin) assert.equal(pin.cpus.length, 1);
 * } finally {
 *   pin?.restore();
 * }
 * ```
 */
export function pinProcessThreads(cpus?: readonly number[]): ThreadPin | undefined {
  const c = openLibc();
  if (!c) return undefined;
  const size = BigInt(CPUSET_BYTES);
  const own = callerMask(c);
  if (!own) return undefined;
  const allowed = maskToCpus(own);
  let target: readonly number[];
  if (cpus === undefined) {
    const now = c.symbols.sched_getcpu();
    target = [allowed.includes(now) ? now : allowed[0]!];
  } else {
    const bad = foreignCpu(cpus, allowed);
    if (bad !== undefined || cpus.length === 0) {
      throw new RangeError(
        `Cannot pin threads to CPU ${bad ?? "(none)"}: this process may run on CPUs ${
          allowed.join(",")
        } only`,
      );
    }
    target = [...new Set(cpus)].sort((a, b) => a - b);
  }
  const saved = new Map<number, Uint8Array>();
  const mask = cpusToMask(target);
  // The calling thread first: threads it starts from now on inherit the new CPUs.
  const self = c.symbols.gettid();
  if (c.symbols.sched_setaffinity(0, size, mask) !== 0) return undefined;
  saved.set(self, own);
  for (const tid of threadIds()) {
    if (tid === self) continue;
    const before = new Uint8Array(CPUSET_BYTES);
    if (c.symbols.sched_getaffinity(tid, size, before) !== 0) continue; // thread exited
    if (c.symbols.sched_setaffinity(tid, size, mask) !== 0) continue;
    saved.set(tid, before);
  }
  const pinned = saved.size;
  let restored = false;
  return {
    cpus: target,
    threads: pinned,
    restore(): void {
      if (restored) return;
      restored = true;
      c.symbols.sched_setaffinity(0, size, own);
      for (const tid of threadIds()) {
        c.symbols.sched_setaffinity(tid, size, saved.get(tid) ?? own);
      }
    },
  };
}

/**
 * The `cpuAffinity: "auto"` rule of `session.trace()`: pins the process to the calling
 * thread's CPU for a one-thread run when the process may use more than one CPU; otherwise
 * (or where {@linkcode canPinThreads} is false) pins nothing.
 *
 * @example Pin like a traced one-thread run
 * ```ts
 * import { autoPin } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(autoPin(2), undefined); // multi-thread runs are never pinned
 * autoPin(1)?.restore();
 * ```
 */
export function autoPin(threads: number): ThreadPin | undefined {
  return threads === 1 && (allowedCpus()?.length ?? 0) > 1 ? pinProcessThreads() : undefined;
}
