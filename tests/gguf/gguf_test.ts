import assert from "node:assert/strict";
import { join } from "node:path";
import {
  GgufError,
  type GgufInfo,
  type GgufMetadataValue,
  readGguf,
} from "../../lib/gguf/reader.ts";
import { findGgufProblems, validateGguf } from "../../lib/gguf/validate.ts";
import {
  ggmlTensorBytes,
  type GgufMetaValue,
  type GgufTensorSpec,
  writeGguf,
  type WriteGgufOptions,
} from "../../lib/gguf/_write.ts";
import { testModel } from "../_models.ts";

// Hand-made GGUF files: a tiny valid lfm2 or llama model, then one change that breaks it.

type Metadata = (readonly [string, GgufMetaValue])[];

const u32 = (value: number): GgufMetaValue => ({ type: "uint32", value });
const f32 = (value: number): GgufMetaValue => ({ type: "float32", value });
const str = (value: string): GgufMetaValue => ({ type: "string", value });
const array = (
  elementType: "uint32" | "int32" | "string",
  values: (number | string)[],
): GgufMetaValue => ({
  type: "array",
  elementType,
  values,
});

const E = 32; // embedding
const F = 64; // feed-forward
const H = 2; // heads (head size 16)
const TOKENS = ["a", "b", "c", "d", "ab", "cd", "<|s|>", "<|e|>"];
const V = TOKENS.length;
const F32_TYPE = 0;

function tokenizer(): Metadata {
  return [
    ["tokenizer.ggml.model", str("gpt2")],
    ["tokenizer.ggml.pre", str("gpt-2")],
    ["tokenizer.ggml.tokens", array("string", TOKENS)],
    ["tokenizer.ggml.token_type", array("int32", TOKENS.map((t) => t.startsWith("<|") ? 3 : 1))],
    ["tokenizer.ggml.merges", array("string", ["a b", "c d"])],
    ["tokenizer.ggml.bos_token_id", u32(6)],
    ["tokenizer.ggml.eos_token_id", u32(7)],
  ];
}

/** lfm2 with 4 layers: short-convolution, attention, short-convolution, attention. */
function lfm2(): { metadata: Metadata; tensors: GgufTensorSpec[] } {
  const kvHeads = [0, 1, 0, 1];
  const metadata: Metadata = [
    ["general.architecture", str("lfm2")],
    ["general.name", str("tiny lfm2")],
    ["tokentrace.synthetic", { type: "bool", value: true }],
    ["lfm2.context_length", u32(128)],
    ["lfm2.embedding_length", u32(E)],
    ["lfm2.block_count", u32(kvHeads.length)],
    ["lfm2.feed_forward_length", u32(F)],
    ["lfm2.attention.head_count", u32(H)],
    ["lfm2.attention.head_count_kv", array("uint32", kvHeads)],
    ["lfm2.attention.layer_norm_rms_epsilon", f32(1e-5)],
    ["lfm2.rope.freq_base", f32(1e6)],
    ["lfm2.shortconv.l_cache", u32(3)],
    ...tokenizer(),
  ];
  const tensor = (name: string, shape: number[]) => ({ name, shape, type: F32_TYPE });
  const tensors = [tensor("token_embd.weight", [E, V]), tensor("token_embd_norm.weight", [E])];
  kvHeads.forEach((kv, i) => {
    const blk = `blk.${i}`;
    tensors.push(
      tensor(`${blk}.attn_norm.weight`, [E]),
      tensor(`${blk}.ffn_norm.weight`, [E]),
      tensor(`${blk}.ffn_gate.weight`, [E, F]),
      tensor(`${blk}.ffn_up.weight`, [E, F]),
      tensor(`${blk}.ffn_down.weight`, [F, E]),
    );
    if (kv === 0) {
      tensors.push(
        tensor(`${blk}.shortconv.conv.weight`, [3, E]),
        tensor(`${blk}.shortconv.in_proj.weight`, [E, 3 * E]),
        tensor(`${blk}.shortconv.out_proj.weight`, [E, E]),
      );
    } else {
      tensors.push(
        tensor(`${blk}.attn_q_norm.weight`, [E / H]),
        tensor(`${blk}.attn_k_norm.weight`, [E / H]),
        tensor(`${blk}.attn_q.weight`, [E, E]),
        tensor(`${blk}.attn_k.weight`, [E, kv * E / H]),
        tensor(`${blk}.attn_v.weight`, [E, kv * E / H]),
        tensor(`${blk}.attn_output.weight`, [E, E]),
      );
    }
  });
  return { metadata, tensors };
}

/** llama with 2 layers, grouped-query attention (2 heads, 1 KV head), untied output. */
function llama(): { metadata: Metadata; tensors: GgufTensorSpec[] } {
  const metadata: Metadata = [
    ["general.architecture", str("llama")],
    ["llama.context_length", u32(128)],
    ["llama.embedding_length", u32(E)],
    ["llama.block_count", u32(2)],
    ["llama.feed_forward_length", u32(F)],
    ["llama.attention.head_count", u32(H)],
    ["llama.attention.head_count_kv", u32(1)],
    ["llama.attention.layer_norm_rms_epsilon", f32(1e-5)],
    ["llama.rope.dimension_count", u32(E / H)],
    ...tokenizer(),
  ];
  const tensor = (name: string, shape: number[]) => ({ name, shape, type: F32_TYPE });
  const tensors = [
    tensor("token_embd.weight", [E, V]),
    tensor("output_norm.weight", [E]),
    tensor("output.weight", [E, V]),
  ];
  for (let i = 0; i < 2; i++) {
    const blk = `blk.${i}`;
    tensors.push(
      tensor(`${blk}.attn_norm.weight`, [E]),
      tensor(`${blk}.attn_q.weight`, [E, E]),
      tensor(`${blk}.attn_k.weight`, [E, E / H]),
      tensor(`${blk}.attn_v.weight`, [E, E / H]),
      tensor(`${blk}.attn_output.weight`, [E, E]),
      tensor(`${blk}.ffn_norm.weight`, [E]),
      tensor(`${blk}.ffn_gate.weight`, [E, F]),
      tensor(`${blk}.ffn_up.weight`, [E, F]),
      tensor(`${blk}.ffn_down.weight`, [F, E]),
    );
  }
  return { metadata, tensors };
}

/** The metadata with `key` set to `value` (in place, or appended), or removed when `value` is undefined. */
function withKey(metadata: Metadata, key: string, value: GgufMetaValue | undefined): Metadata {
  const kept = metadata.filter(([k]) => k !== key);
  if (value === undefined) return kept;
  const index = metadata.findIndex(([k]) => k === key);
  kept.splice(index === -1 ? kept.length : index, 0, [key, value]);
  return kept;
}

async function write(
  name: string,
  model: { metadata: Metadata; tensors: GgufTensorSpec[] },
  options?: WriteGgufOptions,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gguf_test_" });
  const path = join(dir, name);
  await writeGguf(
    path,
    model.metadata,
    model.tensors,
    (_, spec) => new Uint8Array(ggmlTensorBytes(spec)),
    options,
  );
  return path;
}

async function removeDir(path: string): Promise<void> {
  await Deno.remove(join(path, ".."), { recursive: true });
}

/** Reads and validates the file; returns the GgufError validateGguf throws. */
async function validationError(path: string): Promise<GgufError> {
  const info = await readGguf(path);
  try {
    validateGguf(info);
  } catch (error) {
    assert.ok(error instanceof GgufError, `expected a GgufError, got ${error}`);
    return error;
  } finally {
    await removeDir(path);
  }
  assert.fail(`validateGguf() accepted ${path}`);
}

/** Returns the GgufError readGguf rejects with. */
async function readError(path: string): Promise<GgufError> {
  try {
    await readGguf(path);
  } catch (error) {
    assert.ok(error instanceof GgufError, `expected a GgufError, got ${error}`);
    return error;
  } finally {
    await removeDir(path);
  }
  assert.fail(`readGguf() accepted ${path}`);
}

Deno.test("`readGguf()` reads a hand-made lfm2 model", async () => {
  const model = lfm2();
  const path = await write("tiny.gguf", model);
  try {
    const info = await readGguf(path);
    validateGguf(info);
    assert.deepEqual(findGgufProblems(info), []);
    assert.equal(info.version, 3);
    assert.equal(info.alignment, 32);
    assert.equal(info.architecture, "lfm2");
    assert.equal(info.name, "tiny lfm2");
    assert.equal(info.synthetic, true);
    assert.equal(info.blockCount, 4);
    assert.equal(info.embeddingLength, E);
    assert.equal(info.feedForwardLength, F);
    assert.equal(info.headCount, H);
    assert.equal(info.headCountKv, 1);
    assert.equal(info.contextLength, 128);
    assert.equal(info.vocabSize, V);
    assert.deepEqual(info.layerKinds, ["shortconv", "attention", "shortconv", "attention"]);
    assert.deepEqual(Object.keys(info.metadata), model.metadata.map(([key]) => key));
    assert.deepEqual(info.metadata["lfm2.attention.head_count_kv"], {
      type: "array",
      elementType: "uint32",
      length: 4,
      values: [0, 1, 0, 1],
    });
    assert.deepEqual(info.metadata["lfm2.attention.layer_norm_rms_epsilon"], {
      type: "float32",
      value: Math.fround(1e-5),
    });
    assert.deepEqual(
      info.tensors.map((t) => [t.name, t.shape]),
      model.tensors.map((t) => [t.name, t.shape]),
    );
    const elements = model.tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(info.parameterCount, elements);
    assert.equal(info.tensorBytes, elements * 4);
    assert.equal(info.dominantQuantization, "F32");
    const last = info.tensors.at(-1)!;
    assert.equal(info.dataOffset % 32, 0);
    assert.equal(info.dataOffset + last.offset + last.byteSize, info.fileBytes);
    assert.deepEqual(
      { ...info.tensors[0]!, shape: [...info.tensors[0]!.shape] },
      {
        name: "token_embd.weight",
        shape: [E, V],
        dtype: "F32",
        type: 0,
        byteSize: E * V * 4,
        offset: 0,
      },
    );
  } finally {
    await removeDir(path);
  }
});

Deno.test("`readGguf()` reads every metadata type, GGUF v2 and a custom alignment", async () => {
  const model = lfm2();
  model.metadata.push(
    ["x.u8", { type: "uint8", value: 255 }],
    ["x.i8", { type: "int8", value: -128 }],
    ["x.u16", { type: "uint16", value: 65535 }],
    ["x.i16", { type: "int16", value: -32768 }],
    ["x.i32", { type: "int32", value: -5 }],
    ["x.u64", { type: "uint64", value: 2n ** 64n - 1n }],
    ["x.i64", { type: "int64", value: -(2n ** 63n) }],
    ["x.f64", { type: "float64", value: 0.1 }],
    ["x.bool", { type: "bool", value: false }],
    ["x.utf8", str("héllo wörld ✓ 𝄞")],
    ["x.long", str("é".repeat(100))],
    ["x.bad", { type: "array", elementType: "uint8", values: [0xc3] }],
    ["x.u64s", { type: "array", elementType: "uint64", values: [1n, 2n] }],
    ["x.bools", { type: "array", elementType: "bool", values: [true, false] }],
    ["__proto__", str("an ordinary key")],
  );
  const path = await write("types.gguf", model, { version: 2, alignment: 64 });
  try {
    const info = await readGguf(path);
    const value = (key: string) => {
      const found = info.metadata[key];
      return found?.type === "array" ? found.values : found?.value;
    };
    assert.equal(info.version, 2);
    assert.equal(info.alignment, 64);
    assert.equal(info.dataOffset % 64, 0);
    assert.deepEqual(info.metadata["general.alignment"], { type: "uint32", value: 64 });
    assert.equal(value("x.u8"), 255);
    assert.equal(value("x.i8"), -128);
    assert.equal(value("x.u16"), 65535);
    assert.equal(value("x.i16"), -32768);
    assert.equal(value("x.i32"), -5);
    assert.equal(value("x.u64"), 2n ** 64n - 1n);
    assert.equal(value("x.i64"), -(2n ** 63n));
    assert.equal(value("x.f64"), 0.1);
    assert.equal(value("x.bool"), false);
    assert.equal(value("x.utf8"), "héllo wörld ✓ 𝄞");
    assert.equal(value("x.long"), "é".repeat(100));
    assert.deepEqual(value("x.u64s"), [1n, 2n]);
    assert.deepEqual(value("x.bools"), [true, false]);
    assert.deepEqual(value("tokenizer.ggml.tokens"), TOKENS);
    assert.equal(Object.hasOwn(info.metadata, "__proto__"), true);
    assert.equal(value("__proto__"), "an ordinary key");
    validateGguf(info);
  } finally {
    await removeDir(path);
  }
});

Deno.test("`readGguf()` names a file without general.name after the file", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "general.name", undefined);
  model.metadata = withKey(model.metadata, "tokentrace.synthetic", undefined);
  const path = await write("my-model.Q8_0.gguf", model);
  try {
    const info = await readGguf(path);
    assert.equal(info.name, "my-model.Q8_0");
    assert.equal(info.synthetic, false);
  } finally {
    await removeDir(path);
  }
});

Deno.test("`validateGguf()` accepts the synthetic lfm2-tiny and llama-tiny test models", async () => {
  const lfm2Info = await readGguf(await testModel("lfm2-tiny"));
  validateGguf(lfm2Info);
  assert.equal(lfm2Info.architecture, "lfm2");
  assert.equal(lfm2Info.synthetic, true);
  assert.equal(lfm2Info.dominantQuantization, "Q8_0");
  assert.equal(lfm2Info.layerKinds?.length, lfm2Info.blockCount);
  assert.ok(
    lfm2Info.layerKinds?.includes("attention") && lfm2Info.layerKinds.includes("shortconv"),
  );

  const llamaInfo = await readGguf(await testModel("llama-tiny", "f16"));
  validateGguf(llamaInfo);
  assert.equal(llamaInfo.architecture, "llama");
  assert.equal(llamaInfo.dominantQuantization, "F16");
  assert.equal(llamaInfo.layerKinds, undefined);
});

Deno.test("`validateGguf()` accepts a hand-made llama model", async () => {
  const path = await write("llama.gguf", llama());
  try {
    validateGguf(await readGguf(path));
  } finally {
    await removeDir(path);
  }
});

Deno.test("`readGguf()` rejects a file that is not GGUF", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gguf_test_" });
  const path = join(dir, "m.gguf");
  await Deno.writeFile(path, new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]));
  const error = await readError(path);
  assert.equal(
    error.message,
    `Cannot read GGUF "${path}": expected magic "GGUF", found "PK\\x03\\x04"`,
  );
  assert.equal(error.path, path);
});

Deno.test("`readGguf()` rejects an empty file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gguf_test_" });
  const path = join(dir, "m.gguf");
  await Deno.writeFile(path, new Uint8Array());
  const error = await readError(path);
  assert.equal(
    error.message,
    `Cannot read GGUF "${path}": file is 0 bytes, too short for the magic "GGUF"`,
  );
});

Deno.test("`readGguf()` rejects GGUF v1, unknown versions and big-endian files", async () => {
  for (const version of [1, 4]) {
    const path = await write("m.gguf", lfm2(), { version });
    const error = await readError(path);
    assert.equal(
      error.message,
      `Cannot read GGUF "${path}": unsupported version ${version}; supported versions are 2 and 3`,
    );
  }
  const path = await write("m.gguf", lfm2(), { version: 0x03000000 });
  const error = await readError(path);
  assert.equal(
    error.message,
    `Cannot read GGUF "${path}": unsupported version field 0x03000000: the file is big-endian GGUF; only little-endian GGUF is supported`,
  );
});

Deno.test("`readGguf()` rejects a file truncated inside the header", async () => {
  const path = await write("m.gguf", lfm2());
  const { dataOffset } = await readGguf(path);
  const cut = Math.floor(dataOffset / 2);
  await Deno.truncate(path, cut);
  const error = await readError(path);
  assert.match(
    error.message,
    new RegExp(
      `^Cannot read GGUF ".*m\\.gguf": file ends at byte ${cut} while reading the (name of tensor \\d+|shape of tensor ".+") \\(\\d+ bytes needed at byte \\d+\\); the file is truncated$`,
    ),
  );
});

Deno.test("`readGguf()` rejects a header that declares more entries than the file holds", async () => {
  const path = await write("m.gguf", lfm2());
  await Deno.truncate(path, 300);
  const error = await readError(path);
  assert.match(
    error.message,
    /^Cannot read GGUF ".*m\.gguf": header declares 19 metadata keys and 40 tensors, more than a 300-byte file can hold; the file is truncated or corrupt$/,
  );
});

Deno.test("`validateGguf()` rejects a file truncated inside the tensor data", async () => {
  const path = await write("m.gguf", lfm2());
  const info = await readGguf(path);
  await Deno.truncate(path, info.fileBytes - 100);
  const error = await validationError(path);
  const last = info.tensors.at(-1)!;
  const end = info.dataOffset + last.offset + last.byteSize;
  assert.equal(
    error.message,
    `Cannot load "${path}": tensor "${last.name}" has data up to byte ${end} but the file is ${
      info.fileBytes - 100
    } bytes; the file is truncated`,
  );
  assert.equal(error.tensor, last.name);
});

Deno.test("`validateGguf()` rejects a missing feed_forward_length", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "lfm2.feed_forward_length", undefined);
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "lfm2.feed_forward_length" is missing; llama.cpp requires it for architecture "lfm2"`,
  );
  assert.equal(error.key, "lfm2.feed_forward_length");
  assert.equal(error.path, path);
  assert.equal(error.tensor, undefined);
});

Deno.test("`validateGguf()` rejects a uint32 key written as int32", async () => {
  const model = llama();
  model.metadata = withKey(model.metadata, "llama.block_count", { type: "int32", value: 2 });
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "llama.block_count" has type int32; llama.cpp requires uint32`,
  );
  assert.equal(error.key, "llama.block_count");
});

Deno.test("`validateGguf()` rejects an RMS epsilon written as float64", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "lfm2.attention.layer_norm_rms_epsilon", {
    type: "float64",
    value: 1e-5,
  });
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "lfm2.attention.layer_norm_rms_epsilon" has type float64; llama.cpp requires float32`,
  );
});

Deno.test("`validateGguf()` rejects a per-layer array of the wrong length", async () => {
  const model = lfm2();
  model.metadata = withKey(
    model.metadata,
    "lfm2.attention.head_count_kv",
    array("uint32", [0, 1, 0]),
  );
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "lfm2.attention.head_count_kv" has 3 elements; llama.cpp requires one per layer (block_count 4)`,
  );
});

Deno.test("`validateGguf()` rejects a per-layer array of floats", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "lfm2.attention.head_count_kv", {
    type: "array",
    elementType: "float32",
    values: [0, 1, 0, 1],
  });
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "lfm2.attention.head_count_kv" has type an array of float32; llama.cpp requires uint32 or a per-layer array`,
  );
});

Deno.test("`validateGguf()` rejects a tensor of the wrong shape", async () => {
  const model = lfm2();
  const index = model.tensors.findIndex((t) => t.name === "blk.1.ffn_up.weight");
  model.tensors[index] = { ...model.tensors[index]!, shape: [E, F + 32] };
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": tensor "blk.1.ffn_up.weight" has shape [${E}, ${
      F + 32
    }]; llama.cpp expects [${E}, ${F}] for architecture "lfm2"`,
  );
  assert.equal(error.tensor, "blk.1.ffn_up.weight");
});

Deno.test("`validateGguf()` rejects llama attention tensors that ignore the KV head count", async () => {
  const model = llama();
  const index = model.tensors.findIndex((t) => t.name === "blk.0.attn_k.weight");
  model.tensors[index] = { ...model.tensors[index]!, shape: [E, E] };
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": tensor "blk.0.attn_k.weight" has shape [${E}, ${E}]; llama.cpp expects [${E}, ${
      E / H
    }] for architecture "llama"`,
  );
});

Deno.test("`validateGguf()` rejects a missing and an unused tensor", async () => {
  const model = lfm2();
  model.tensors = model.tensors.filter((t) => t.name !== "blk.0.shortconv.in_proj.weight");
  model.tensors.push({ name: "blk.0.extra.weight", shape: [E], type: F32_TYPE });
  const path = await write("m.gguf", model);
  const info = await readGguf(path);
  await removeDir(path);
  assert.deepEqual(findGgufProblems(info).map((p) => [p.message, p.tensor]), [
    [
      `Cannot load "${path}": tensor "blk.0.shortconv.in_proj.weight" is missing; llama.cpp requires it for architecture "lfm2"`,
      "blk.0.shortconv.in_proj.weight",
    ],
    [
      `Cannot load "${path}": tensor "blk.0.extra.weight" is not used by architecture "lfm2"; llama.cpp refuses files with unused tensors`,
      "blk.0.extra.weight",
    ],
  ]);
});

Deno.test("`validateGguf()` rejects an unknown architecture", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "general.architecture", str("lfm9"));
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "general.architecture" is "lfm9", an architecture this llama.cpp (bundled with node-llama-cpp 3.21.1) does not know`,
  );
});

Deno.test("`validateGguf()` checks required keys of other architectures", async () => {
  const model = llama();
  model.metadata = model.metadata
    .filter(([key]) => key !== "llama.embedding_length")
    .map((
      [key, value],
    ) => [
      key.replace(/^llama\./, "qwen2."),
      key === "general.architecture" ? str("qwen2") : value,
    ]);
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "qwen2.embedding_length" is missing; llama.cpp requires it for architecture "qwen2"`,
  );
});

Deno.test("`validateGguf()` rejects missing BPE merges and repeated tokens", async () => {
  const noMerges = lfm2();
  noMerges.metadata = withKey(noMerges.metadata, "tokenizer.ggml.merges", undefined);
  let path = await write("m.gguf", noMerges);
  let error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "tokenizer.ggml.merges" is missing; llama.cpp requires it for tokenizer model "gpt2"`,
  );

  const repeated = lfm2();
  repeated.metadata = withKey(
    repeated.metadata,
    "tokenizer.ggml.tokens",
    array("string", TOKENS.map((t) => t === "cd" ? "ab" : t)),
  );
  path = await write("m.gguf", repeated);
  error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "tokenizer.ggml.tokens" holds "ab" twice (ids 4 and 5); llama.cpp requires unique tokens`,
  );
});

Deno.test("`validateGguf()` rejects a token_type array shorter than the vocabulary", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "tokenizer.ggml.token_type", array("int32", [1, 1]));
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "tokenizer.ggml.token_type" has 2 elements; llama.cpp requires one per token (${V})`,
  );
});

Deno.test("`validateGguf()` rejects lfm2 heads that do not divide the embedding", async () => {
  const model = lfm2();
  model.metadata = withKey(model.metadata, "lfm2.attention.head_count", u32(3));
  model.metadata = withKey(
    model.metadata,
    "lfm2.attention.head_count_kv",
    array("uint32", [0, 3, 0, 3]),
  );
  const path = await write("m.gguf", model);
  const error = await validationError(path);
  assert.equal(
    error.message,
    `Cannot load "${path}": key "lfm2.attention.head_count" is 3 with head size 10; architecture "lfm2" requires head_count × head size = embedding_length (${E})`,
  );
});

Deno.test("`findGgufProblems()` lists every problem, `validateGguf()` throws the first", () => {
  const info = {
    path: "m.gguf",
    fileBytes: 0,
    dataOffset: 0,
    alignment: 32,
    metadata: {
      "general.architecture": { type: "string", value: "llama" },
      "llama.context_length": { type: "int32", value: 128 },
    },
    tensors: [],
  } as unknown as GgufInfo;
  const problems = findGgufProblems(info).map((p) => p.message);
  assert.deepEqual(problems, [
    'Cannot load "m.gguf": key "llama.context_length" has type int32; llama.cpp requires uint32',
    'Cannot load "m.gguf": key "llama.embedding_length" is missing; llama.cpp requires it for architecture "llama"',
    'Cannot load "m.gguf": key "llama.block_count" is missing; llama.cpp requires it for architecture "llama"',
    'Cannot load "m.gguf": key "llama.feed_forward_length" is missing; llama.cpp requires it for architecture "llama"',
    'Cannot load "m.gguf": key "llama.attention.head_count" is missing; llama.cpp requires it for architecture "llama"',
    'Cannot load "m.gguf": key "llama.attention.layer_norm_rms_epsilon" is missing; llama.cpp requires it for architecture "llama"',
    'Cannot load "m.gguf": key "tokenizer.ggml.model" is missing; llama.cpp requires it to load the vocabulary',
  ]);
  assert.throws(() => validateGguf(info), { name: "GgufError", message: problems[0] });
});

Deno.test("`validateGguf()` rejects values that abort llama.cpp", async () => {
  const path = await write("m.gguf", llama());
  const info = await readGguf(path);
  await removeDir(path);
  const firstProblem = (key: string, value: GgufMetaValue) =>
    findGgufProblems({
      ...info,
      metadata: { ...info.metadata, [key]: value as GgufMetadataValue },
    })[0]
      ?.message.replace(`Cannot load "${path}": `, "");
  assert.equal(
    firstProblem("llama.block_count", u32(0)),
    'key "llama.block_count" is 0; llama.cpp requires 1 to 512',
  );
  assert.equal(
    firstProblem("llama.rope.scaling.type", str("weird")),
    'key "llama.rope.scaling.type" is "weird"; llama.cpp requires one of "none", "linear", "yarn", "longrope"',
  );
  assert.equal(
    firstProblem("llama.attention.head_count_kv", u32(0)),
    'key "llama.attention.head_count_kv" is 0 for layer 0; architecture "llama" requires at least 1 KV head',
  );
  assert.equal(
    firstProblem("llama.attention.head_count_kv", u32(3)),
    'key "llama.attention.head_count_kv" is 3 for layer 0; llama.cpp requires a divisor of head_count (2)',
  );
  assert.equal(
    firstProblem("llama.attention.key_length", u32(0)),
    'key "llama.attention.key_length" is 0; llama.cpp requires at least 1',
  );
  assert.equal(
    firstProblem("llama.expert_used_count", u32(2)),
    'key "llama.expert_used_count" is 2; llama.cpp requires at most expert_count (0)',
  );
});
