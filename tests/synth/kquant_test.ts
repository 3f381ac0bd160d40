// `writeSyntheticModel({ dtype: "q4_k_m" | "q6_k" })` against llama.cpp's own llama-quantize
// run on the same preset's f16 file: the same tensor table (names, shapes, types) and the same
// tensor data, byte for byte.

import assert from "node:assert/strict";
import { readGguf } from "../../lib/gguf/reader.ts";
import type { PresetName, SynthDtype } from "../../lib/synth/synth.ts";
import { testModel } from "../_models.ts";
import { llamaQuantized } from "../gguf/_quantized.ts";

async function tensorData(path: string): Promise<Map<string, { table: string; data: Uint8Array }>> {
  const info = await readGguf(path);
  const bytes = await Deno.readFile(path);
  return new Map(info.tensors.map((t) => {
    const start = info.dataOffset + t.offset;
    return [t.name, {
      table: `${t.dtype} [${t.shape.join(",")}]`,
      data: bytes.subarray(start, start + t.byteSize),
    }];
  }));
}

const CASES: [PresetName, SynthDtype, string][] = [
  ["lfm2-small", "q4_k_m", "Q4_K_M"],
  ["lfm2-small", "q6_k", "Q6_K"],
  // Rows of 32: every K type falls back (Q4_K to Q5_0, Q6_K to Q8_0).
  ["lfm2-tiny", "q4_k_m", "Q4_K_M"],
  ["llama-tiny", "q6_k", "Q6_K"],
];

for (const [preset, dtype, fileType] of CASES) {
  Deno.test({
    name:
      `\`writeSyntheticModel()\` ${preset} ${dtype} equals llama-quantize ${fileType} of its f16 file`,
    sanitizeResources: false,
    async fn() {
      const ours = await tensorData(await testModel(preset, dtype));
      const theirs = await tensorData(await llamaQuantized(preset, fileType));
      assert.deepEqual(
        [...ours].map(([name, t]) => `${name} ${t.table}`).sort(),
        [...theirs].map(([name, t]) => `${name} ${t.table}`).sort(),
      );
      const differing = [...ours].filter(([name, t]) => {
        const other = theirs.get(name)!.data;
        return t.data.length !== other.length || t.data.some((b, i) => b !== other[i]);
      }).map(([name]) => name);
      assert.deepEqual(differing, [], "tensors whose bytes differ");
      const info = await readGguf(await testModel(preset, dtype));
      assert.equal(info.quantization, fileType);
    },
  });
}
