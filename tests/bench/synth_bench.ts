/**
 * Write speed and peak memory of the synthetic-model writer (issue target: lfm2-350m q8_0 in at
 * most 8 s with peak RSS under 300 MB on a 2-core machine). The cost is the PRNG and the
 * quantization, not the disk.
 *
 * Script (one fresh process per write, so each peak RSS is its own):
 * `deno run -A tests/bench/synth_bench.ts [--preset lfm2-350m] [--dtype q8_0] [--runs 3]`
 * prints each write's seconds, MB/s and peak RSS (VmHWM), then the medians.
 * `deno bench -A tests/bench/synth_bench.ts` times lfm2-350m q8_0 writes (no RSS).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type PresetName, type SynthDtype, writeSyntheticModel } from "../../lib/synth/synth.ts";

const SCRATCH = new URL("../../.cache/synth_bench/", import.meta.url);

interface Sample {
  seconds: number;
  bytes: number;
  parameters: number;
  peakRssMb: number;
}

/** Peak resident set size of this process in MB (Linux VmHWM), or NaN elsewhere. */
function peakRssMb(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
    return m === null ? NaN : Number(m[1]) / 1024;
  } catch {
    return NaN;
  }
}

async function writeOnce(preset: PresetName, dtype: SynthDtype): Promise<Sample> {
  await Deno.mkdir(SCRATCH, { recursive: true });
  const out = new URL(`bench-${preset}-${dtype}.gguf`, SCRATCH).pathname;
  try {
    const r = await writeSyntheticModel(out, { preset, dtype });
    return { seconds: r.seconds, bytes: r.bytes, parameters: r.parameters, peakRssMb: peakRssMb() };
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      preset: { type: "string", default: "lfm2-350m" },
      dtype: { type: "string", default: "q8_0" },
      runs: { type: "string", default: "3" },
      child: { type: "boolean", default: false },
    },
  });
  const preset = values.preset as PresetName;
  const dtype = values.dtype as SynthDtype;
  if (values.child) {
    console.log(JSON.stringify(await writeOnce(preset, dtype)));
  } else {
    const samples: Sample[] = [];
    console.log(`| run | seconds | MB/s | peak RSS MB |\n|---|---|---|---|`);
    for (let i = 0; i < Number(values.runs); i++) {
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL(import.meta.url).pathname,
          "--child",
          "--preset",
          preset,
          "--dtype",
          dtype,
        ],
        stderr: "inherit",
      }).output();
      if (!child.success) Deno.exit(1);
      const s = JSON.parse(new TextDecoder().decode(child.stdout)) as Sample;
      samples.push(s);
      console.log(
        `| ${i + 1} | ${s.seconds.toFixed(2)} | ${(s.bytes / 1e6 / s.seconds).toFixed(0)} | ${
          s.peakRssMb.toFixed(0)
        } |`,
      );
    }
    const sec = median(samples.map((s) => s.seconds));
    const s0 = samples[0]!;
    console.log(
      `\n${preset} ${dtype}: ${(s0.bytes / 1e6).toFixed(1)} MB, ${
        (s0.parameters / 1e6).toFixed(1)
      } M parameters; median ${sec.toFixed(2)} s, ${(s0.bytes / 1e6 / sec).toFixed(0)} MB/s, ` +
        `median peak RSS ${median(samples.map((s) => s.peakRssMb)).toFixed(0)} MB ` +
        `(${samples.length} runs, ${navigator.hardwareConcurrency} cores, load ${
          Deno.loadavg()[0]!.toFixed(2)
        })`,
    );
  }
} else {
  Deno.bench({
    name: "writeSyntheticModel() lfm2-350m q8_0",
    n: 3,
    warmup: 0,
    async fn() {
      await writeOnce("lfm2-350m", "q8_0");
    },
  });
}
