/**
 * Memory read bandwidth of this machine, for the roofline row of `deno task bench`.
 *
 * Preferred method: a tiny C program (below), compiled at bench time with `cc -O3
 * -march=native` into `.cache/bandwidth/`, sums a 1 GiB buffer of 64-bit integers with
 * 1 thread and with all threads (each thread reads its own slice). The buffer is touched
 * before timing, so page faults are not counted. Without `cc`, a JS fallback sums a
 * `Float64Array` (main thread only, plus Workers for all threads); V8 does not vectorize that
 * loop, so the JS figure is a lower bound and is labelled `js`.
 *
 * Run alone: `deno run -A tests/bench/_bandwidth.ts`
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** One bandwidth measurement. */
export interface Bandwidth {
  /** `c` (compiled probe) or `js` (fallback, a lower bound). */
  method: "c" | "js";
  /** Threads that read concurrently. */
  threads: number;
  /** Bytes read per pass. */
  bytes: number;
  /** GB/s (1e9 bytes) of every timed pass. */
  samplesGbPerS: number[];
  /** Median of the samples. */
  medianGbPerS: number;
  /** Best sample: the figure a roofline floor uses. */
  maxGbPerS: number;
}

const C_SOURCE = String.raw`
// tokentrace bandwidth probe: sums a buffer of uint64 with T threads, prints GB/s per pass.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const uint64_t *p; size_t n; uint64_t sum; pthread_barrier_t *b; int passes; double *sec; int id; } job_t;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static uint64_t sum(const uint64_t *p, size_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
    a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
  }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

static void *run(void *arg) {
  job_t *j = arg;
  for (int k = 0; k < j->passes; k++) {
    pthread_barrier_wait(j->b);
    double t0 = now();
    j->sum += sum(j->p, j->n);
    pthread_barrier_wait(j->b);
    if (j->id == 0) j->sec[k] = now() - t0;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  size_t bytes = argc > 2 ? strtoull(argv[2], NULL, 10) : (size_t)1 << 30;
  int passes = argc > 3 ? atoi(argv[3]) : 5;
  size_t n = bytes / 8 / threads / 8 * 8;
  uint64_t *buf = aligned_alloc(4096, n * threads * 8);
  if (!buf) { fprintf(stderr, "cannot allocate %zu bytes\n", n * threads * 8); return 1; }
  memset(buf, 1, n * threads * 8);
  pthread_barrier_t b; pthread_barrier_init(&b, NULL, threads);
  double *sec = calloc(passes + 1, sizeof(double));
  job_t *jobs = calloc(threads, sizeof(job_t));
  pthread_t *tids = calloc(threads, sizeof(pthread_t));
  for (int t = 0; t < threads; t++) {
    jobs[t] = (job_t){buf + (size_t)t * n, n, 0, &b, passes + 1, sec, t};
    pthread_create(&tids[t], NULL, run, &jobs[t]);
  }
  uint64_t total = 0;
  for (int t = 0; t < threads; t++) { pthread_join(tids[t], NULL); total += jobs[t].sum; }
  printf("{\"bytes\":%zu,\"check\":%llu,\"seconds\":[", n * threads * 8, (unsigned long long)(total & 1));
  for (int k = 1; k <= passes; k++) printf("%s%.9f", k > 1 ? "," : "", sec[k]);
  printf("]}\n");
  return 0;
}
`;

const CACHE = fileURLToPath(new URL("../../.cache/bandwidth/", import.meta.url));

async function which(cmd: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** Compiles the C probe once per source text; returns its path, or null without `cc`. */
async function buildProbe(): Promise<string | null> {
  if (!(await which("cc"))) return null;
  await Deno.mkdir(CACHE, { recursive: true });
  const src = `${CACHE}bw.c`;
  const bin = `${CACHE}bw`;
  let same = false;
  try {
    same = (await Deno.readTextFile(src)) === C_SOURCE && (await Deno.stat(bin)).isFile;
  } catch { /* first build */ }
  if (same) return bin;
  await Deno.writeTextFile(src, C_SOURCE);
  const out = await new Deno.Command("cc", {
    args: ["-O3", "-march=native", "-pthread", "-o", bin, src],
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot compile the bandwidth probe with cc: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return bin;
}

function summarize(
  method: "c" | "js",
  threads: number,
  bytes: number,
  seconds: number[],
): Bandwidth {
  const samples = seconds.map((s) => bytes / s / 1e9);
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    method,
    threads,
    bytes,
    samplesGbPerS: samples,
    medianGbPerS: median,
    maxGbPerS: Math.max(...samples),
  };
}

/** JS fallback: one pass per sample over a Float64Array, in Workers when threads > 1. */
async function measureJs(threads: number, bytes: number, passes: number): Promise<Bandwidth> {
  const per = Math.floor(bytes / 8 / threads);
  const workerSrc = `
    const a = new Float64Array(${per}).fill(1);
    self.onmessage = () => {
      const t0 = performance.now();
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i + 4 <= a.length; i += 4) { s0 += a[i]; s1 += a[i+1]; s2 += a[i+2]; s3 += a[i+3]; }
      self.postMessage({ ms: performance.now() - t0, s: s0 + s1 + s2 + s3 });
    };`;
  const url = URL.createObjectURL(new Blob([workerSrc], { type: "text/javascript" }));
  const workers = Array.from({ length: threads }, () => new Worker(url, { type: "module" }));
  const seconds: number[] = [];
  try {
    for (let k = 0; k <= passes; k++) {
      const t0 = performance.now();
      await Promise.all(workers.map((w) =>
        new Promise<void>((resolve) => {
          w.onmessage = () => resolve();
          w.postMessage(null);
        })
      ));
      if (k > 0) seconds.push((performance.now() - t0) / 1000);
    }
  } finally {
    for (const w of workers) w.terminate();
    URL.revokeObjectURL(url);
  }
  return summarize("js", threads, per * 8 * threads, seconds);
}

/** Options of {@linkcode measureBandwidth}. */
export interface MeasureBandwidthOptions {
  /** Reader threads. @default 1 */
  threads?: number;
  /** Buffer size in bytes (well above the last-level cache). @default 1 GiB */
  bytes?: number;
  /** Timed passes (after one untimed pass). @default 5 */
  passes?: number;
  /** Force the JS fallback even when `cc` exists. @default false */
  js?: boolean;
}

/** Measures memory read bandwidth with the C probe, or the JS fallback without `cc`. */
export async function measureBandwidth(options: MeasureBandwidthOptions = {}): Promise<Bandwidth> {
  const { threads = 1, bytes = 2 ** 30, passes = 5, js = false } = options;
  const bin = js ? null : await buildProbe();
  if (bin === null) return await measureJs(threads, bytes, passes);
  const out = await new Deno.Command(bin, {
    args: [String(threads), String(bytes), String(passes)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot measure bandwidth: probe exited with ${out.code}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  const res = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    bytes: number;
    seconds: number[];
  };
  return summarize("c", threads, res.bytes, res.seconds);
}

if (import.meta.main) {
  const cores = navigator.hardwareConcurrency;
  for (const js of [false, true]) {
    for (const threads of [...new Set([1, cores])]) {
      const bw = await measureBandwidth({ threads, js });
      console.log(
        `${bw.method} ${threads} thread(s): median ${bw.medianGbPerS.toFixed(1)} GB/s, max ${
          bw.maxGbPerS.toFixed(1)
        } GB/s`,
      );
    }
  }
}
