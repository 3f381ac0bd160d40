// `tokentrace synth`: writes a synthetic GGUF model (lib/synth/synth.ts) and prints where it went.

import { dirname } from "node:path";
import { defineCommand, parseFlags, UsageError } from "./args.ts";
import {
  type PresetName,
  PRESETS,
  SYNTH_DTYPES,
  type SynthDtype,
  writeSyntheticModel,
} from "../synth/synth.ts";

const DEFAULT_PRESET: PresetName = "lfm2-350m";
const DEFAULT_DTYPE: SynthDtype = "q8_0";

const SYNTH = defineCommand({
  usage: "tokentrace synth [options]",
  description:
    "Writes a synthetic GGUF model: a real architecture's geometry with seeded random weights\n" +
    "and GPT-2's BPE vocabulary. Its text is meaningless; its cost per token is real.",
  flags: [
    {
      name: "preset",
      kind: "choice",
      choices: Object.keys(PRESETS),
      defaultText: DEFAULT_PRESET,
      help: "model geometry",
    },
    {
      name: "dtype",
      kind: "choice",
      choices: SYNTH_DTYPES,
      defaultText: DEFAULT_DTYPE,
      help: "weight matrix type (norms stay f32); q4_k_m and q6_k mix types as llama-quantize does",
    },
    { name: "seed", kind: "int", min: 0, defaultText: "0", help: "PRNG seed (0 to 4294967295)" },
    {
      name: "out",
      kind: "string",
      placeholder: "<path>",
      defaultText: "data/models/<preset>-<dtype>.gguf",
      help: "output file (parent folders are created)",
    },
  ],
});

const MiB = 1024 * 1024;

function progressBar(): (written: number, total: number) => void {
  const encoder = new TextEncoder();
  let last = -Infinity;
  let done = false;
  return (written, total) => {
    const now = performance.now();
    if (done || (written < total && now - last < 100)) return;
    last = now;
    done = written >= total;
    const width = 30;
    const filled = Math.round((written / total) * width);
    const line = `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
      Math.floor((written / total) * 100)
    }% ${(written / MiB).toFixed(0)}/${(total / MiB).toFixed(0)} MiB`;
    Deno.stderr.writeSync(encoder.encode(written >= total ? `${line}\r\x1b[2K` : line));
  };
}

/** Errors that mean the output path cannot be written (exit 2, not a crash). */
function isPathError(e: unknown): boolean {
  return e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound ||
    e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.NotADirectory ||
    e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotCapable ||
    (e instanceof Error && "code" in e && e.code === "EROFS");
}

/**
 * Runs `tokentrace synth` with the arguments after the subcommand and returns the exit code:
 * 0 when the model was written, 2 on bad input (one line on stderr, nothing written).
 *
 * @param args Command-line arguments after `synth`.
 * @returns The process exit code.
 *
 * @example Unknown preset
 * ```ts
 * import { main } from "@tokentrace/tokentrace/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["synth", "--preset", "gpt-5"]), 2);
 * ```
 */
export async function synthMain(args: string[]): Promise<number> {
  let preset: PresetName, dtype: SynthDtype, seed: number, out: string;
  try {
    const flags = parseFlags(args, SYNTH.flags);
    if (flags.bool("help")) {
      console.log(SYNTH.help);
      return 0;
    }
    preset = (flags.string("preset") ?? DEFAULT_PRESET) as PresetName;
    dtype = (flags.string("dtype") ?? DEFAULT_DTYPE) as SynthDtype;
    seed = flags.int("seed") ?? 0;
    if (seed > 0xffffffff) {
      throw new UsageError(
        `Cannot parse --seed: expected an integer from 0 to 4294967295, found ${seed}`,
      );
    }
    out = flags.string("out") ?? `data/models/${preset}-${dtype}.gguf`;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(e.message);
    return 2;
  }

  try {
    const stat = await Deno.stat(out).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    });
    if (stat?.isDirectory) throw new Deno.errors.IsADirectory("it is a directory");
    await Deno.mkdir(dirname(out), { recursive: true });
    const model = await writeSyntheticModel(out, {
      preset,
      dtype,
      seed,
      ...(Deno.stderr.isTerminal() ? { onProgress: progressBar() } : {}),
    });
    console.log(`wrote ${model.path}`);
    console.log(`  preset      ${preset} (${dtype}, seed ${seed})`);
    console.log(
      `  size        ${model.bytes.toLocaleString("en-US")} bytes (${
        (model.bytes / MiB).toFixed(1)
      } MiB)`,
    );
    console.log(`  parameters  ${model.parameters.toLocaleString("en-US")}`);
    console.log(`  seconds     ${model.seconds.toFixed(2)}`);
    return 0;
  } catch (e) {
    if (!isPathError(e)) throw e;
    const reason = e instanceof Error ? e.message.split("\n")[0] : String(e);
    console.error(`Cannot write synthetic model to ${JSON.stringify(out)}: ${reason}`);
    return 2;
  }
}
