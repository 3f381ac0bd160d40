// Files llama.cpp's own llama-quantize makes from tokentrace's f16 synthetic models, cached in
// data/models/ (git-ignored) next to the synthetic ones and remade when their source is newer.

import { fileURLToPath } from "node:url";
import type { PresetName } from "../../lib/synth/synth.ts";
import { readGguf } from "../../lib/gguf/reader.ts";
import { writeGguf } from "../../lib/gguf/_write.ts";
import { llamaTool } from "../_llama.ts";
import { testModel } from "../_models.ts";

const MODELS_DIR = fileURLToPath(new URL("../../data/models/", import.meta.url));

async function mtime(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return -1;
    throw e;
  }
}

/**
 * Path of `llama-quantize <flags> <preset f16> OUT <fileType>`: `label` names the variant in the
 * file name (`test-<preset>-llama-<label>.gguf`).
 */
export async function llamaQuantized(
  preset: PresetName,
  fileType: string,
  options: { label?: string; flags?: readonly string[] } = {},
): Promise<string> {
  const { label = fileType.toLowerCase(), flags = [] } = options;
  const source = await testModel(preset, "f16");
  const out = `${MODELS_DIR}test-${preset}-llama-${label}.gguf`;
  if (await mtime(out) >= await mtime(source)) return out;
  const tmp = `${out}.${Deno.pid}.tmp`;
  const run = await new Deno.Command(await llamaTool("llama-quantize"), {
    args: [...flags, source, tmp, fileType, "2"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!run.success) {
    await Deno.remove(tmp).catch(() => {});
    const text = new TextDecoder().decode(run.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`llama-quantize ${fileType} ${flags.join(" ")} failed (${run.code}): ${text}`);
  }
  await Deno.rename(tmp, out);
  return out;
}

/**
 * A uniform importance matrix (llama.cpp's GGUF imatrix: `<tensor>.in_sum2` and
 * `<tensor>.counts` per matrix, common/imatrix-loader.cpp) for a preset's matrices: the types
 * ggml refuses to quantize without one (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M, IQ3_XXS) need it.
 */
export async function uniformImatrix(preset: PresetName): Promise<string> {
  const source = await testModel(preset, "f16");
  const out = `${MODELS_DIR}test-${preset}-imatrix.gguf`;
  if (await mtime(out) >= await mtime(source)) return out;
  const matrices = (await readGguf(source)).tensors.filter((t) => t.shape.length >= 2);
  const specs = matrices.flatMap((t) => [
    { name: `${t.name}.in_sum2`, shape: [t.shape[0]!], type: 0 },
    { name: `${t.name}.counts`, shape: [1], type: 0 },
  ]);
  const tmp = `${out}.${Deno.pid}.tmp`;
  await writeGguf(
    tmp,
    [
      ["general.type", { type: "string", value: "imatrix" }],
      ["imatrix.datasets", { type: "array", elementType: "string", values: ["uniform"] }],
      ["imatrix.chunk_count", { type: "uint32", value: 1 }],
      ["imatrix.chunk_size", { type: "uint32", value: 512 }],
    ],
    specs,
    function* (i) {
      yield new Uint8Array(new Float32Array(specs[i]!.shape[0]!).fill(1).buffer);
    },
  );
  await Deno.rename(tmp, out);
  return out;
}
