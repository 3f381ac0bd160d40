// Synthetic model files for tests: written once into data/models/ (git-ignored) and reused.
// A file is rewritten when any synth source file is newer than it. Two test processes may race
// safely: the writer renames a finished temporary file into place.

import { fileURLToPath } from "node:url";
import { type PresetName, type SynthDtype, writeSyntheticModel } from "../lib/synth/synth.ts";

const MODELS_DIR = fileURLToPath(new URL("../data/models/", import.meta.url));
const SOURCES = [
  "synth/synth.ts",
  "gguf/_write.ts",
  "gguf/_types.ts",
  "synth/_prng.ts",
  "synth/_quant.ts",
  "synth/_tokenizer.ts",
].map((f) => new URL(`../lib/${f}`, import.meta.url));

const pending = new Map<string, Promise<string>>();

async function mtime(path: string | URL): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return -1;
    throw e;
  }
}

async function ensure(
  path: string,
  preset: PresetName,
  dtype: SynthDtype,
  seed: number,
): Promise<string> {
  const sourcesTime = Math.max(...await Promise.all(SOURCES.map(mtime)));
  if ((await mtime(path)) >= sourcesTime) return path;
  await Deno.mkdir(MODELS_DIR, { recursive: true });
  await writeSyntheticModel(path, { preset, dtype, seed });
  return path;
}

/**
 * Path of the synthetic test model `data/models/test-<preset>-<dtype>-s<seed>.gguf`, written on
 * first use (and when the synth sources changed since).
 */
export function testModel(
  preset: PresetName,
  dtype: SynthDtype = "q8_0",
  seed = 0,
): Promise<string> {
  const path = `${MODELS_DIR}test-${preset}-${dtype}-s${seed}.gguf`;
  let p = pending.get(path);
  if (p === undefined) {
    p = ensure(path, preset, dtype, seed);
    pending.set(path, p);
  }
  return p;
}
