/**
 * Speed of the GGUF reader and validator on a real-size vocabulary: the synthetic lfm2-tiny
 * test model holds 65,536 tokens, their token types and 50,000 merges (about 2 MB of metadata),
 * like LFM2-350M. Reading the head of a file does not depend on the size of its tensor data.
 *
 * Run: `deno bench -A tests/bench/gguf_bench.ts`
 *
 * @module
 */

import { readGguf } from "../../lib/gguf/reader.ts";
import { validateGguf } from "../../lib/gguf/validate.ts";
import { testModel } from "../_models.ts";

const path = await testModel("lfm2-tiny");
const info = await readGguf(path);

Deno.bench("readGguf() of a 65,536-token vocabulary", async () => {
  await readGguf(path);
});

Deno.bench("validateGguf() of a 65,536-token vocabulary", () => {
  validateGguf(info);
});
