/**
 * Thread-placement experiment in plain C++ on llama.cpp (no JS): a tg loop like llama-bench's,
 * where each token's `llama_decode` is called
 * - `same`: from one fixed thread, no threadpool attached (ggml makes a helper thread per graph,
 *   as in node-llama-cpp);
 * - `rot2` / `rot8`: from 2 or 8 long-lived threads in turn (what Deno's blocking pool does with
 *   node-llama-cpp's async calls: each job goes to the thread idle the longest);
 * - `new`: from a new thread per token;
 * - `pool0` / `pool50`: from one fixed thread with a persistent ggml threadpool attached
 *   (llama-bench's way; poll level 0 or 50).
 *
 * The C++ source below is written to `.cache/placement/` and compiled with `c++` against the
 * static libraries of the `llama-bench` build (`_llama_bench.ts`, built first if needed); no
 * llama.cpp code is committed. With `perf` installed, each mode also reports CPU migrations.
 *
 * `deno run -A tests/bench/_placement.ts [--threads 2] [--tokens 128] [--reps 2] [--rounds 2]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ensureLlamaBench } from "./_llama_bench.ts";
import { median } from "./_stats.ts";

const SOURCE = String.raw`
// tokentrace placement harness: llama-bench-like tg loop with a choice of calling thread.
#include "llama.h"
#include "ggml-cpu.h"
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

// K long-lived threads; job i runs on thread i % K.
struct Rotating {
  struct W {
    std::thread th; std::mutex m; std::condition_variable cv;
    std::function<void()> job; bool has = false, done = false;
  };
  std::vector<W *> ws; size_t next = 0;
  explicit Rotating(int k) {
    for (int i = 0; i < k; i++) {
      auto * w = new W;
      w->th = std::thread([w] {
        std::unique_lock<std::mutex> l(w->m);
        while (true) {
          w->cv.wait(l, [w] { return w->has; });
          w->job(); w->has = false; w->done = true; w->cv.notify_all();
        }
      });
      w->th.detach();
      ws.push_back(w);
    }
  }
  void run(std::function<void()> f) {
    W * w = ws[next++ % ws.size()];
    { std::lock_guard<std::mutex> l(w->m); w->job = f; w->has = true; w->done = false; }
    w->cv.notify_all();
    std::unique_lock<std::mutex> l(w->m);
    w->cv.wait(l, [w] { return w->done; });
  }
};

static double now_ms() {
  return std::chrono::duration<double, std::milli>(
    std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char ** argv) {
  const char * model_path = argv[1];
  const int n_threads = atoi(argv[2]), n_gen = atoi(argv[3]);
  const char * mode = argv[4];
  const int reps = atoi(argv[5]);
  llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
  llama_backend_init();
  llama_model * model = llama_model_load_from_file(model_path, llama_model_default_params());
  auto cp = llama_context_default_params();
  cp.n_ctx = 1024; cp.n_batch = 512; cp.n_ubatch = 512;
  cp.n_threads = n_threads; cp.n_threads_batch = n_threads;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context * ctx = llama_init_from_model(model, cp);
  ggml_threadpool * tp = nullptr;
  if (!strncmp(mode, "pool", 4)) {
    auto tpp = ggml_threadpool_params_default(n_threads);
    tpp.poll = atoi(mode + 4);
    tp = ggml_threadpool_new(&tpp);
    llama_attach_threadpool(ctx, tp, nullptr);
  }
  Rotating * rot = !strncmp(mode, "rot", 3) ? new Rotating(atoi(mode + 3)) : nullptr;
  const bool fresh = !strcmp(mode, "new");
  llama_token tok = 1000;
  printf("[");
  for (int r = -1; r < reps; r++) {  // r = -1: warm-up
    llama_memory_clear(llama_get_memory(ctx), true);
    std::vector<double> lat;
    for (int i = 0; i < n_gen; i++) {
      llama_batch b = llama_batch_get_one(&tok, 1);
      auto step = [&] { llama_decode(ctx, b); llama_synchronize(ctx); };
      const double a = now_ms();
      if (rot) rot->run(step);
      else if (fresh) { std::thread th(step); th.join(); }
      else step();
      lat.push_back(now_ms() - a);
    }
    if (r < 0) continue;
    printf("%s[", r ? "," : "");
    for (size_t i = 0; i < lat.size(); i++) printf("%s%.4f", i ? "," : "", lat[i]);
    printf("]");
  }
  printf("]\n");
  fflush(stdout);
  std::_Exit(0);  // rotating threads are detached; skip teardown
}
`;

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIR = `${ROOT}.cache/placement`;
const MODES = ["same", "rot2", "rot8", "new", "pool0", "pool50"] as const;

/**
 * Compiles the harness (once per source and llama-bench build) and returns its path.
 * @param log Where llama-bench's build progress goes.
 */
export async function buildPlacementHarness(
  log: (line: string) => void = (l) => console.error(l),
): Promise<string> {
  const lb = await ensureLlamaBench({ log });
  if (!lb.ok) throw new Error(`Cannot build the placement harness: ${lb.reason}`);
  const b = `${ROOT}.cache/llama-bench/build-omp-off`;
  const src = `${ROOT}.cache/llama-bench/src`;
  await Deno.mkdir(DIR, { recursive: true });
  const cpp = `${DIR}/placement.cpp`;
  const bin = `${DIR}/placement`;
  let same = false;
  try {
    same = (await Deno.readTextFile(cpp)) === SOURCE && (await Deno.stat(bin)).isFile;
  } catch { /* first build */ }
  if (same) return bin;
  await Deno.writeTextFile(cpp, SOURCE);
  const out = await new Deno.Command("c++", {
    args: [
      "-O2",
      "-std=c++17",
      `-I${src}/include`,
      `-I${src}/ggml/include`,
      cpp,
      `${b}/src/libllama.a`,
      `${b}/ggml/src/libggml.a`,
      `${b}/ggml/src/libggml-cpu.a`,
      `${b}/ggml/src/libggml-base.a`,
      "-lpthread",
      "-ldl",
      "-o",
      bin,
    ],
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot compile the placement harness: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return bin;
}

/** Calling-thread modes of the harness (see the module doc). */
export type PlacementMode = (typeof MODES)[number];

/**
 * Runs the harness once: a warm-up of `tokens` tokens, then `reps` repetitions.
 * @param perfStatFile When given, runs under `perf stat -e cpu-migrations` writing to it.
 * @returns Each repetition's per-token `llama_decode` times, ms.
 */
export async function runPlacement(
  bin: string,
  model: string,
  threads: number,
  tokens: number,
  mode: PlacementMode,
  reps: number,
  perfStatFile?: string,
): Promise<number[][]> {
  const args = [model, String(threads), String(tokens), mode, String(reps)];
  const out = await new Deno.Command(perfStatFile === undefined ? bin : "perf", {
    args: perfStatFile === undefined
      ? args
      : ["stat", "-e", "cpu-migrations", "-x", ",", "-o", perfStatFile, bin, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`Cannot run the placement harness: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as number[][];
}

/** A repetition's decode rate, tokens/s, from its per-token times (ms). */
export const placementRate = (lat: readonly number[]): number =>
  lat.length / (lat.reduce((a, b) => a + b, 0) / 1000);

async function hasPerf(): Promise<boolean> {
  try {
    return (await new Deno.Command("perf", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "data/models/lfm2-350m-q8_0.gguf" },
      threads: { type: "string", default: "2" },
      tokens: { type: "string", default: "128" },
      reps: { type: "string", default: "2" },
      rounds: { type: "string", default: "2" },
    },
  });
  const bin = await buildPlacementHarness();
  const perf = await hasPerf();
  const rows = new Map<string, { rates: number[]; medians: number[]; migrations: number[] }>();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of MODES) {
      const statFile = perf ? `${DIR}/perf-${mode}.txt` : undefined;
      const reps = await runPlacement(
        bin,
        values.model,
        Number(values.threads),
        Number(values.tokens),
        mode,
        Number(values.reps),
        statFile,
      );
      const row = rows.get(mode) ?? { rates: [], medians: [], migrations: [] };
      for (const lat of reps) {
        row.rates.push(placementRate(lat));
        row.medians.push(median(lat));
      }
      if (statFile !== undefined) {
        const line = (await Deno.readTextFile(statFile)).split("\n").find((l) =>
          l.includes("cpu-migrations")
        );
        const n = Number(line?.split(",")[0]);
        if (Number.isFinite(n)) row.migrations.push(n / (reps.length + 1) / Number(values.tokens));
      }
      rows.set(mode, row);
      console.error(`[placement] ${mode}: ${row.rates.at(-1)!.toFixed(1)} t/s`);
    }
  }
  console.log(
    `| calling thread (t=${values.threads}) | t/s (median, range) | median token ms | CPU migrations per token |`,
  );
  console.log("| --- | --- | --- | --- |");
  for (const [mode, r] of rows) {
    console.log(
      `| ${mode} | ${median(r.rates).toFixed(1)} (${Math.min(...r.rates).toFixed(1)}–${
        Math.max(...r.rates).toFixed(1)
      }) | ${median(r.medians).toFixed(2)} | ${
        r.migrations.length ? median(r.migrations).toFixed(2) : "n/a"
      } |`,
    );
  }
}
