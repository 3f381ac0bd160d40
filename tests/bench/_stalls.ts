/**
 * Stall attribution: runs the decode probe (`_decode_probe.ts`) under `perf sched record`
 * (system-wide scheduler trace, CLOCK_MONOTONIC) and splits every token's wall time into who
 * had the CPUs: the probe's compute threads (llama.cpp's, which inherit the name of the Deno
 * blocking-pool thread that calls `llama_decode`), its JS thread, its other threads (V8, tokio),
 * other processes, and idle. Tokens slower than `--factor` × the median are "stalls".
 *
 * Needs Linux `perf` with scheduler tracepoints (root or perf_event_paranoid <= 1).
 *
 * ```sh
 * deno run -A tests/bench/_stalls.ts --threads 2 [--tokens 128] [--reps 2] [--factor 2] \
 *   [--model data/models/lfm2-350m-q8_0.gguf] [-- extra probe flags]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { ProbeResult } from "./_decode_probe.ts";
import { median } from "./_stats.ts";

/** One scheduler run interval from `perf sched timehist`. */
interface Slice {
  end: number; // s, CLOCK_MONOTONIC
  run: number; // s
  cpu: number;
  comm: string;
  tid: number;
  pid: number;
}

const CLASSES = ["compute", "js", "own-other", "other-process", "idle"] as const;
type Klass = (typeof CLASSES)[number];

function parseTimehist(text: string): Slice[] {
  const out: Slice[] = [];
  const re =
    /^\s*([\d.]+)\s+\[(\d+)\]\s+(.*?)\[(\d+)(?:\/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m === null) continue;
    out.push({
      end: Number(m[1]),
      run: Number(m[8]) / 1000,
      cpu: Number(m[2]),
      comm: m[3]!.trim(),
      tid: Number(m[4]),
      pid: Number(m[5] ?? m[4]),
    });
  }
  return out;
}

function classify(s: Slice, pid: number): Klass {
  if (s.tid === 0 || s.comm.startsWith("<idle")) return "idle";
  if (s.pid !== pid) return "other-process";
  if (s.tid === pid || s.comm.startsWith("worker")) return "js";
  if (s.comm.startsWith("tokio-runtime-w")) return "compute";
  return "own-other";
}

/** Per-token CPU time by class (ms), for tokens split into normal and stalled. */
export interface Attribution {
  threads: number;
  tokens: number;
  stalls: number;
  medianTokenMs: number;
  normal: Record<Klass, number>;
  stalled: Record<Klass, number>;
  worstTokens: { index: number; ms: number; byClass: Record<Klass, number>; others: string }[];
}

function attribute(probe: ProbeResult, slices: Slice[], factor: number): Attribution {
  const zero = (): Record<Klass, number> =>
    Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<Klass, number>;
  const normal = zero();
  const stalled = zero();
  let nNormal = 0, nStalled = 0, nTokens = 0;
  const worst: Attribution["worstTokens"] = [];
  const sorted = [...slices].sort((a, b) => a.end - b.end);
  for (const rep of probe.reps) {
    const dec = rep.latenciesMs.slice(1);
    const med = median(dec);
    let t = (rep.startMonotonicMs + rep.latenciesMs[0]!) / 1000;
    for (let i = 1; i < rep.latenciesMs.length; i++) {
      const t0 = t;
      const t1 = t + rep.latenciesMs[i]! / 1000;
      t = t1;
      const by = zero();
      const others = new Map<string, number>();
      for (const s of sorted) {
        if (s.end <= t0) continue;
        if (s.end - s.run >= t1) {
          if (s.end - 5 > t1) break; // slices end in order; none older than 5 s reaches back
          continue;
        }
        const overlap = Math.min(s.end, t1) - Math.max(s.end - s.run, t0);
        if (overlap <= 0) continue;
        const k = classify(s, probe.pid);
        by[k] += overlap * 1000;
        if (k === "other-process") others.set(s.comm, (others.get(s.comm) ?? 0) + overlap * 1000);
      }
      const isStall = rep.latenciesMs[i]! > factor * med;
      const acc = isStall ? stalled : normal;
      for (const k of CLASSES) acc[k] += by[k];
      if (isStall) nStalled++;
      else nNormal++;
      nTokens++;
      if (isStall) {
        worst.push({
          index: i,
          ms: rep.latenciesMs[i]!,
          byClass: by,
          others: [...others].sort((a, b) => b[1] - a[1]).slice(0, 3)
            .map(([c, ms]) => `${c} ${ms.toFixed(0)}`).join(", "),
        });
      }
    }
  }
  for (const k of CLASSES) {
    normal[k] /= Math.max(1, nNormal);
    stalled[k] /= Math.max(1, nStalled);
  }
  return {
    threads: probe.options.threads,
    tokens: nTokens,
    stalls: nStalled,
    medianTokenMs: median(probe.reps.flatMap((r) => r.latenciesMs.slice(1))),
    normal,
    stalled,
    worstTokens: worst.sort((a, b) => b.ms - a.ms).slice(0, 5),
  };
}

/** Formats an attribution as a small Markdown table. */
export function formatAttribution(a: Attribution): string {
  const row = (label: string, r: Record<Klass, number>): string =>
    `| ${label} | ${CLASSES.map((k) => r[k].toFixed(1)).join(" | ")} |`;
  return [
    `threads ${a.threads}: ${a.tokens} decode tokens, median ${
      a.medianTokenMs.toFixed(1)
    } ms, ${a.stalls} stalls`,
    "",
    `| CPU ms per token (2 CPUs) | ${CLASSES.join(" | ")} |`,
    `| --- | ${CLASSES.map(() => "---").join(" | ")} |`,
    row("normal tokens", a.normal),
    row("stalled tokens", a.stalled),
    "",
    ...a.worstTokens.map((w) =>
      `- token ${w.index}: ${w.ms.toFixed(0)} ms; ${
        CLASSES.map((k) => `${k} ${w.byClass[k].toFixed(0)}`).join(", ")
      }; other processes: ${w.others || "none"}`
    ),
  ].join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      model: { type: "string", default: "data/models/lfm2-350m-q8_0.gguf" },
      threads: { type: "string", default: "2" },
      tokens: { type: "string", default: "128" },
      reps: { type: "string", default: "2" },
      factor: { type: "string", default: "2" },
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-stalls-" });
  const probe = fileURLToPath(new URL("./_decode_probe.ts", import.meta.url));
  const rec = await new Deno.Command("perf", {
    args: [
      "sched",
      "record",
      "-k",
      "mono",
      "-a",
      "-o",
      `${dir}/sched.data`,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      probe,
      "--model",
      values.model,
      "--threads",
      values.threads,
      "--tokens",
      values.tokens,
      "--reps",
      values.reps,
      "--json",
      `${dir}/probe.json`,
      ...positionals,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!rec.success) {
    console.error(`Cannot record: ${new TextDecoder().decode(rec.stderr).trim()}`);
    Deno.exit(1);
  }
  const hist = await new Deno.Command("perf", {
    args: ["sched", "timehist", "-i", `${dir}/sched.data`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const result = JSON.parse(await Deno.readTextFile(`${dir}/probe.json`)) as ProbeResult;
  const a = attribute(
    result,
    parseTimehist(new TextDecoder().decode(hist.stdout)),
    Number(values.factor),
  );
  console.log(formatAttribution(a));
  await Deno.remove(dir, { recursive: true });
}
