/**
 * Parity-gap investigation, in one command, interleaved: where the time between llama.cpp's
 * own `llama-bench` and a node-llama-cpp decode loop under Deno goes.
 *
 * 1. llama-bench tg128 at each thread count: the node-llama-cpp-like build (ggml thread pool,
 *    `GGML_OPENMP=OFF`) with `--poll 50` (default) and `--poll 0`, and the OpenMP build when
 *    it exists (`_llama_bench.ts` builds both; the OpenMP one with `--omp`).
 * 2. The decode probe (`_decode_probe.ts`) with node-llama-cpp's `sequence.evaluate()` and with
 *    the native loop (`--raw`: initBatch/addToBatch/decodeBatch/sampleToken on the native
 *    context), each as is and after `settleBlockingPool()` (Deno's blocking pool down to one
 *    thread), splitting each token's wall time into llama.cpp's own eval time, the decode
 *    call's thread hop, the sampling call (hop included) and JS glue.
 *
 * `deno run -A tests/bench/_gap.ts [--threads 1,2] [--rounds 3] [--omp]`; raw numbers go to
 * `.cache/bench/gap-<UTC time>.json`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ensureLlamaBench, runLlamaBench } from "./_llama_bench.ts";
import type { ProbeResult } from "./_decode_probe.ts";
import { fmtSpread, median, shuffled, spread } from "./_stats.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "data/models/lfm2-350m-q8_0.gguf" },
    threads: { type: "string", default: "1,2" },
    rounds: { type: "string", default: "3" },
    omp: { type: "boolean", default: false },
  },
});
const threads = values.threads.split(",").map(Number);
const rounds = Number(values.rounds);
const log = (s: string): void => console.error(`[gap] ${s}`);

const nlc = await ensureLlamaBench({ variant: "nlc", log });
const omp = values.omp ? await ensureLlamaBench({ variant: "omp", log }) : undefined;

type Job =
  | { kind: "llama-bench"; variant: "nlc" | "omp"; poll: number; t: number }
  | { kind: "probe"; raw: boolean; settle: boolean; t: number };

const jobs: Job[] = threads.flatMap((t): Job[] => [
  ...(nlc.ok
    ? [
      { kind: "llama-bench", variant: "nlc", poll: 50, t } as const,
      { kind: "llama-bench", variant: "nlc", poll: 0, t } as const,
    ]
    : []),
  ...(omp?.ok ? [{ kind: "llama-bench", variant: "omp", poll: 50, t } as const] : []),
  { kind: "probe", raw: false, settle: false, t },
  { kind: "probe", raw: true, settle: false, t },
  { kind: "probe", raw: false, settle: true, t },
  { kind: "probe", raw: true, settle: true, t },
]);

const key = (j: Job): string =>
  j.kind === "llama-bench"
    ? `llama-bench ${j.variant === "nlc" ? "ggml pool" : "OpenMP"} poll ${j.poll}, t=${j.t}`
    : `${j.raw ? "native loop" : "evaluate() loop"}${j.settle ? ", pool settled" : ""}, t=${j.t}`;

interface ProbeSample {
  rate: number;
  medianMs: number;
  maxMs: number;
  llamaMs: number;
  hopMs: number;
  sampleMs: number;
  glueMs: number;
  jsCpuMs: number;
}
const samples = new Map<string, number[]>();
const probes = new Map<string, ProbeSample[]>();
const raw: unknown[] = [];

for (let r = 0; r < rounds; r++) {
  for (const job of shuffled(jobs, r + 7)) {
    const k = key(job);
    if (job.kind === "llama-bench") {
      const bin = (job.variant === "nlc" ? nlc : omp)!;
      if (!bin.ok) continue;
      const res = await runLlamaBench(bin.path, values.model, {
        threads: job.t,
        reps: 1,
        poll: job.poll,
      });
      raw.push({ job, res });
      samples.set(k, [...(samples.get(k) ?? []), res.avgTokensPerS]);
      log(`${k}: ${res.avgTokensPerS.toFixed(2)} t/s`);
    } else {
      const json = await Deno.makeTempFile({ suffix: ".json" });
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          fileURLToPath(new URL("./_decode_probe.ts", import.meta.url)),
          "--model",
          values.model,
          "--threads",
          String(job.t),
          "--tokens",
          "128",
          "--reps",
          "2",
          "--json",
          json,
          ...(job.raw ? ["--raw"] : []),
          ...(job.settle ? ["--settle"] : []),
        ],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
      const p = JSON.parse(await Deno.readTextFile(json)) as ProbeResult;
      await Deno.remove(json);
      raw.push({ job, probe: p });
      const rep = p.reps[1]!; // the second repetition: warm
      const n = rep.latenciesMs.length;
      const dec = rep.latenciesMs.slice(1);
      const llama = (rep.llamaEvalMs ?? 0) + (rep.llamaPromptMs ?? 0);
      const js = rep.threads.filter((t) => t.tid === p.pid).reduce((a, t) => a + t.cpuMs, 0);
      const s: ProbeSample = {
        rate: 1000 * (n - 1) / dec.reduce((a, b) => a + b, 0),
        medianMs: median(dec),
        maxMs: Math.max(...dec),
        llamaMs: llama / n,
        hopMs: (rep.jsDecodeMs - llama) / n,
        sampleMs: rep.jsSampleMs / n,
        glueMs: (rep.wallMs - rep.jsDecodeMs - rep.jsSampleMs) / n,
        jsCpuMs: js / n,
      };
      probes.set(k, [...(probes.get(k) ?? []), s]);
      samples.set(k, [...(samples.get(k) ?? []), s.rate]);
      log(
        `${k}: ${s.rate.toFixed(2)} t/s, hop ${s.hopMs.toFixed(2)} sample ${
          s.sampleMs.toFixed(2)
        } glue ${s.glueMs.toFixed(2)} ms/token`,
      );
    }
  }
}

const lines = [
  `| setup | t/s (median, range over ${rounds}) | llama eval ms/token | decode hop | sample call | JS glue | JS-thread CPU | median / max token ms |`,
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
];
for (const job of jobs) {
  const k = key(job);
  const ps = probes.get(k);
  const m = (f: (s: ProbeSample) => number): string => ps ? median(ps.map(f)).toFixed(2) : "";
  lines.push(
    `| ${k} | ${fmtSpread(spread(samples.get(k) ?? []), 1)} | ${m((s) => s.llamaMs)} | ${
      m((s) => s.hopMs)
    } | ${m((s) => s.sampleMs)} | ${m((s) => s.glueMs)} | ${m((s) => s.jsCpuMs)} | ${
      ps
        ? `${median(ps.map((s) => s.medianMs)).toFixed(1)} / ${
          Math.max(...ps.map((s) => s.maxMs)).toFixed(0)
        }`
        : ""
    } |`,
  );
}
console.log(lines.join("\n"));
const stamp = new Date().toISOString().replace(/[:.]/g, "").replace(/\d{3}Z$/, "Z");
await Deno.mkdir(`${ROOT}.cache/bench`, { recursive: true });
await Deno.writeTextFile(
  `${ROOT}.cache/bench/gap-${stamp}.json`,
  JSON.stringify({ values, raw }, null, 1),
);
log(`raw numbers: .cache/bench/gap-${stamp}.json`);
