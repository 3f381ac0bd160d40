// The reader and validator against files llama.cpp's own llama-quantize makes: every file type
// it writes without an importance matrix, and every ggml type it can write at all.

import assert from "node:assert/strict";
import { type GgufInfo, readGguf } from "../../lib/gguf/reader.ts";
import { findGgufProblems } from "../../lib/gguf/validate.ts";
import { GGML_TYPES } from "../../lib/gguf/_types.ts";
import { llamaQuantized, uniformImatrix } from "./_quantized.ts";

/** The file's tensor data ends where the table says: every type's block and byte size is right. */
function assertLayout(info: GgufInfo): void {
  assert.deepEqual(findGgufProblems(info).map((p) => p.message), []);
  const last = info.tensors.at(-1)!;
  const end = info.dataOffset + last.offset + last.byteSize;
  assert.ok(
    info.fileBytes >= end && info.fileBytes - end < info.alignment,
    `${info.path}: data ends at ${end}, file is ${info.fileBytes} bytes`,
  );
  const sum = Object.values(info.tensorTypeBytes).reduce((a, b) => a + b, 0);
  assert.equal(sum, info.tensorBytes);
}

// File types llama-quantize writes from an f16 model without an importance matrix, with the
// dominant tensor type on lfm2-small: its tied token embedding holds most bytes and gets Q6_K
// in every K and IQ mix, which is why the file type and not the dominant type names the file.
const FILE_TYPES = [
  ["Q4_K_M", "Q6_K"],
  ["Q4_K_S", "Q6_K"],
  ["Q5_K_M", "Q6_K"],
  ["Q5_K_S", "Q6_K"],
  ["Q6_K", "Q6_K"],
  ["Q3_K_M", "Q6_K"],
  ["Q3_K_L", "Q6_K"],
  ["Q2_K", "Q6_K"],
  ["IQ4_XS", "Q6_K"],
  ["IQ4_NL", "Q6_K"],
  ["IQ3_M", "Q6_K"],
  ["Q4_0", "Q6_K"],
  ["Q5_1", "Q6_K"],
  ["Q8_0", "Q8_0"],
  ["BF16", "BF16"],
  ["TQ2_0", "Q6_K"],
] as const;

Deno.test({
  name: "`readGguf()` names llama-quantize's file types and validates their files",
  sanitizeResources: false,
  async fn() {
    for (const [fileType, dominant] of FILE_TYPES) {
      const info = await readGguf(await llamaQuantized("lfm2-small", fileType));
      assert.equal(info.fileType, fileType);
      assert.equal(info.quantization, fileType);
      assert.equal(
        info.dominantQuantization,
        dominant,
        `${fileType}: ${JSON.stringify(info.tensorTypeBytes)}`,
      );
      assertLayout(info);
    }
  },
});

// Every ggml type llama-quantize can write: one file with a type per FFN matrix (on top of
// Q8_0), and, for the types ggml quantizes only with an importance matrix, one file each with
// the type on the token embedding and a uniform importance matrix.
const PER_TENSOR = [
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
  "IQ4_NL",
  "IQ3_S",
  "IQ4_XS",
  "BF16",
  "F16",
  "F32",
  "TQ1_0",
  "TQ2_0",
  "MXFP4",
  "NVFP4",
  "Q1_0",
  "Q2_0",
];
const EMBEDDING_ONLY = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ1_S", "IQ1_M"];

Deno.test({
  name: "`readGguf()` and `validateGguf()` size every ggml type llama-quantize writes",
  sanitizeResources: false,
  async fn() {
    const flags = PER_TENSOR.flatMap((type, i) => [
      "--tensor-type",
      `blk\\.${i % 16}\\.ffn_${["up", "gate", "down"][Math.floor(i / 16)]}=${type.toLowerCase()}`,
    ]);
    const mixed = await readGguf(
      await llamaQuantized("lfm2-small", "Q8_0", { label: "every-type", flags }),
    );
    assertLayout(mixed);
    const seen = new Set(mixed.tensors.map((t) => t.dtype));
    for (const type of PER_TENSOR) assert.ok(seen.has(type), `no ${type} tensor`);
    for (const type of EMBEDDING_ONLY) {
      const info = await readGguf(
        await llamaQuantized("lfm2-small", "Q8_0", {
          label: `embd-${type.toLowerCase()}`,
          flags: [
            "--imatrix",
            await uniformImatrix("lfm2-small"),
            "--token-embedding-type",
            type.toLowerCase(),
          ],
        }),
      );
      assert.equal(info.tensors.find((t) => t.name === "token_embd.weight")?.dtype, type);
      assertLayout(info);
    }
    const covered = new Set([...seen, ...EMBEDDING_ONLY]);
    // The rest have no quantizer in llama-quantize: Q8_1 and Q8_K are dot-product scratch
    // types, I8..I64 and F64 integer/double tensors.
    const unwritable = ["Q8_1", "Q8_K", "I8", "I16", "I32", "I64", "F64"];
    const all = Object.values(GGML_TYPES).map((t) => t.name);
    assert.deepEqual(all.filter((t) => !covered.has(t) && !unwritable.includes(t)), []);
  },
});
