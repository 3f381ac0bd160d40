/**
 * Analysis at scale: simulates a trace of about 10M decode-token rows in memory (no I/O; the
 * dataset bench times reading), then times `prepareTrace()`, the slowdown fit, the variance
 * decomposition and the other analyses, and prints seconds and peak RSS (VmHWM).
 *
 * Run: `deno run -A tests/bench/analysis_bench.ts [tokens]` (default 10,000,000).
 *
 * @module
 */

import {
  decomposeVariance,
  detectStalls,
  fitSlowdown,
  prepareTrace,
  sessionDrift,
  simulateTrace,
  testPromptClass,
  testTokenContent,
} from "../../mod.ts";

function peakRssMb(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

const target = Number(Deno.args[0] ?? 10_000_000);
const maxTokens = 250;
const depths = [0, 512, 1024, 2048, 4096];
const prompts = [
  { id: "simple-short", class: "simple", promptTokens: 24, maxTokens },
  { id: "complex-short", class: "complex", promptTokens: 24, maxTokens },
  { id: "simple-long", class: "simple", promptTokens: 40, maxTokens },
  { id: "complex-long", class: "complex", promptTokens: 40, maxTokens },
];
const repetitions = Math.max(1, Math.round(target / (maxTokens * prompts.length * depths.length)));

const rows: [string, number][] = [];
const time = <T>(label: string, f: () => T): T => {
  const t0 = performance.now();
  const out = f();
  rows.push([label, (performance.now() - t0) / 1000]);
  return out;
};

const trace = time("simulateTrace", () => simulateTrace({ prompts, depths, repetitions, seed: 1 }));
const rssAfterSimulate = peakRssMb();
const prepared = time("prepareTrace", () => prepareTrace(trace));
const slowdown = time("fitSlowdown (1000 resamples)", () => fitSlowdown(prepared));
const variance = time("decomposeVariance (200 resamples)", () => decomposeVariance(prepared));
const fitAndDecompose = rows.slice(1).reduce((s, [, t]) => s + t, 0);
time("testPromptClass (999 permutations, 1000 resamples)", () => testPromptClass(prepared));
time(
  "testTokenContent (199 permutations on <= 200k tokens, 200 resamples)",
  () => testTokenContent(prepared),
);
time("detectStalls (1000 resamples)", () => detectStalls(prepared));
time("sessionDrift", () => sessionDrift(prepared));

console.log(
  `analysis bench: ${trace.tokens.height.toLocaleString("en-US")} token rows, ${
    prepared.tokens.count.toLocaleString("en-US")
  } decode tokens, ${prepared.runs.count.toLocaleString("en-US")} runs`,
);
console.log("| step | seconds |\n|---|---:|");
for (const [label, s] of rows) console.log(`| ${label} | ${s.toFixed(2)} |`);
console.log(`| prepare + slowdown fit + variance decomposition | ${fitAndDecompose.toFixed(2)} |`);
console.log(
  `peak RSS after simulate: ${rssAfterSimulate.toFixed(0)} MB; peak RSS overall: ${
    peakRssMb().toFixed(0)
  } MB`,
);
console.log(
  `b = ${slowdown.slopeUsPerToken.value.toFixed(3)} µs/token (injected 2); explained variance ${
    variance.explained.value.toFixed(1)
  }%`,
);
