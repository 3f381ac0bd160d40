/**
 * Builds llama.cpp's own `llama-bench` from the llama.cpp source bundled inside the
 * node-llama-cpp package (`llama/gitRelease.bundle`, the exact source of its prebuilt
 * binary, with node-llama-cpp's `llama/patches/*.diff` applied), and runs it.
 *
 * Nothing of llama.cpp is committed: the bundle is cloned at bench time into the git-ignored
 * `.cache/llama-bench/src`, built into `.cache/llama-bench/build-omp-off` (or `build-omp-on`), and reused while
 * the bundle commit and the cmake options stay the same.
 *
 * Variants:
 * - `nlc` (the default): the threading of node-llama-cpp's prebuilt Linux binary, which is
 *   built with `GGML_OPENMP=OFF` (ggml's own thread pool); `GGML_NATIVE=ON` stands in for
 *   the prebuilt's per-CPU kernel variants (it loads the one matching this CPU).
 * - `omp`: llama.cpp's default Linux build (`GGML_OPENMP=ON`), what users who build
 *   llama.cpp themselves usually run.
 *
 * Run alone: `deno run -A tests/bench/_llama_bench.ts [model.gguf] [threads...]`
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** Build flavours of `llama-bench`; see the module doc. */
export type LlamaBenchVariant = "nlc" | "omp";

/** A usable `llama-bench` binary, or the reason there is none. */
export type LlamaBenchBuild =
  | { ok: true; path: string; commit: string; variant: LlamaBenchVariant; cmakeArgs: string[] }
  | { ok: false; reason: string };

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CACHE = `${ROOT}.cache/llama-bench/`;
const NLC = `${ROOT}node_modules/.deno/node-llama-cpp@3.21.1/node_modules/node-llama-cpp/llama/`;

function cmakeArgs(variant: LlamaBenchVariant): string[] {
  return [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
    `-DGGML_OPENMP=${variant === "omp" ? "ON" : "OFF"}`,
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
  ];
}

async function run(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const o = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { ok: o.success, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  } catch (e) {
    return { ok: false, out: "", err: e instanceof Error ? e.message : String(e) };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Options of {@linkcode ensureLlamaBench}. */
export interface EnsureLlamaBenchOptions {
  /** Build flavour. @default "nlc" */
  variant?: LlamaBenchVariant;
  /** Parallel compile jobs. @default 2 */
  jobs?: number;
  /** `nice` level of the compiler processes. @default 10 */
  niceness?: number;
  /** Called with progress lines (stderr of the caller). @default () => {} */
  log?: (line: string) => void;
}

/**
 * Returns a built `llama-bench`, cloning and building it first when needed (about 5 minutes
 * on 2 quiet cores). Never throws for a missing tool: returns `{ ok: false, reason }`.
 */
export async function ensureLlamaBench(
  options: EnsureLlamaBenchOptions = {},
): Promise<LlamaBenchBuild> {
  const { variant = "nlc", jobs = 2, niceness = 10, log = () => {} } = options;
  const bundle = `${NLC}gitRelease.bundle`;
  if (!(await exists(bundle))) return { ok: false, reason: `no llama.cpp bundle at ${bundle}` };
  for (const tool of ["git", "cmake", "c++", "cc"]) {
    const found = await run("sh", ["-c", `command -v ${tool}`]);
    if (!found.ok) return { ok: false, reason: `${tool} is not installed` };
  }
  const heads = await run("git", ["bundle", "list-heads", bundle]);
  const commit = heads.out.trim().split(/\s+/)[0] ?? "";
  if (!heads.ok || !/^[0-9a-f]{40}$/.test(commit)) {
    return { ok: false, reason: `cannot read the bundle's commit: ${heads.err.trim()}` };
  }

  const src = `${CACHE}src`;
  const build = `${CACHE}build-${variant === "omp" ? "omp-on" : "omp-off"}`;
  const bin = `${build}/bin/llama-bench`;
  const args = cmakeArgs(variant);
  const stampPath = `${build}/tokentrace-stamp.json`;
  const stamp = JSON.stringify({ commit, args });
  if (await exists(bin)) {
    try {
      if ((await Deno.readTextFile(stampPath)) === stamp) {
        return { ok: true, path: bin, commit, variant, cmakeArgs: args };
      }
    } catch { /* no stamp: rebuild */ }
  }

  const head = await run("git", ["-C", src, "rev-parse", "HEAD"]);
  if (!head.ok || head.out.trim() !== commit) {
    log(`llama-bench: cloning ${bundle} into ${src}`);
    await Deno.remove(src, { recursive: true }).catch(() => {});
    await Deno.mkdir(CACHE, { recursive: true });
    const clone = await run("git", ["clone", "-q", bundle, src]);
    if (!clone.ok) return { ok: false, reason: `git clone failed: ${clone.err.trim()}` };
    for await (const e of Deno.readDir(`${NLC}patches`)) {
      if (!e.name.endsWith(".diff")) continue;
      const patch = `${NLC}patches/${e.name}`;
      if ((await run("git", ["-C", src, "apply", "--check", patch])).ok) {
        await run("git", ["-C", src, "apply", patch]);
        log(`llama-bench: applied ${e.name}`);
      }
    }
  }

  const generator = (await run("sh", ["-c", "command -v ninja"])).ok ? ["-G", "Ninja"] : [];
  log(`llama-bench: configuring ${build} (${args.join(" ")})`);
  const cfg = await run("cmake", ["-S", src, "-B", build, ...generator, ...args]);
  if (!cfg.ok) return { ok: false, reason: `cmake configure failed: ${cfg.err.trim()}` };
  log(`llama-bench: building with -j${jobs} at nice ${niceness} (about 5 minutes on 2 cores)`);
  const niceCmd = (await run("sh", ["-c", "command -v nice"])).ok;
  const buildArgs = ["--build", build, "--target", "llama-bench", `-j${jobs}`];
  const b = niceCmd
    ? await run("nice", ["-n", String(niceness), "cmake", ...buildArgs])
    : await run("cmake", buildArgs);
  if (!b.ok || !(await exists(bin))) {
    return { ok: false, reason: `build failed: ${(b.err || b.out).trim().slice(-2000)}` };
  }
  await Deno.writeTextFile(stampPath, stamp);
  return { ok: true, path: bin, commit, variant, cmakeArgs: args };
}

/** One `llama-bench` test result (a subset of its JSON record). */
export interface LlamaBenchResult {
  /** Threads used. */
  threads: number;
  /** Tokens generated per repetition. */
  nGen: number;
  /** Thread-pool polling level (0 = sleep at once, 100 = spin longest). */
  poll: number;
  /** Mean tokens/s over repetitions, as llama-bench reports it. */
  avgTokensPerS: number;
  /** Sample standard deviation of tokens/s. */
  stddevTokensPerS: number;
  /** Tokens/s of each repetition. */
  samplesTokensPerS: number[];
  /** Nanoseconds of each repetition. */
  samplesNs: number[];
  /** llama.cpp build commit llama-bench reports. */
  buildCommit: string;
  /** CPU llama-bench reports. */
  cpuInfo: string;
}

/** Options of {@linkcode runLlamaBench}. */
export interface RunLlamaBenchOptions {
  /** Compute threads. @default 1 */
  threads?: number;
  /** Tokens generated per repetition (`tg<nGen>`). @default 128 */
  nGen?: number;
  /** Repetitions. @default 5 */
  reps?: number;
  /** Thread-pool polling level, llama-bench's `--poll`. @default 50 */
  poll?: number;
  /** Skip llama-bench's own warm-up run. @default false */
  noWarmup?: boolean;
  /**
   * Flash attention, llama-bench's `-fa on|off` (its own default is `auto`, on where the
   * backend supports it). Off matches a tokentrace session's default `flashAttention: false`.
   * @default false
   */
  flashAttention?: boolean;
}

/** Runs `llama-bench` for text generation only (`-p 0 -n nGen`) and parses its JSON. */
export async function runLlamaBench(
  bin: string,
  model: string,
  options: RunLlamaBenchOptions = {},
): Promise<LlamaBenchResult> {
  const { threads = 1, nGen = 128, reps = 5, poll = 50, noWarmup = false, flashAttention = false } =
    options;
  const args = [
    "-m",
    model,
    "-p",
    "0",
    "-n",
    String(nGen),
    "-t",
    String(threads),
    "-r",
    String(reps),
    "--poll",
    String(poll),
    "-fa",
    flashAttention ? "on" : "off",
    "-o",
    "json",
  ];
  if (noWarmup) args.push("--no-warmup");
  const r = await run(bin, args);
  if (!r.ok) {
    throw new Error(`Cannot run llama-bench ${args.join(" ")}: ${r.err.trim().slice(-1000)}`);
  }
  const rec = (JSON.parse(r.out) as Record<string, unknown>[])[0];
  if (rec === undefined) throw new Error(`Cannot parse llama-bench output: ${r.out.slice(0, 500)}`);
  return {
    threads: rec.n_threads as number,
    nGen: rec.n_gen as number,
    poll: rec.poll as number,
    avgTokensPerS: rec.avg_ts as number,
    stddevTokensPerS: rec.stddev_ts as number,
    samplesTokensPerS: rec.samples_ts as number[],
    samplesNs: rec.samples_ns as number[],
    buildCommit: rec.build_commit as string,
    cpuInfo: rec.cpu_info as string,
  };
}

if (import.meta.main) {
  const [model, ...threadArgs] = Deno.args;
  for (const variant of ["nlc", "omp"] as const) {
    const b = await ensureLlamaBench({ variant, log: (l) => console.error(l) });
    console.log(
      b.ok ? `${variant}: ${b.path} (${b.commit.slice(0, 12)})` : `${variant}: ${b.reason}`,
    );
    if (b.ok && model !== undefined) {
      for (const t of threadArgs.length ? threadArgs.map(Number) : [1, 2]) {
        const res = await runLlamaBench(b.path, model, { threads: t });
        console.log(
          `  tg${res.nGen} t=${t}: ${res.avgTokensPerS.toFixed(2)} ± ${
            res.stddevTokensPerS.toFixed(2)
          } t/s`,
        );
      }
    }
  }
}
